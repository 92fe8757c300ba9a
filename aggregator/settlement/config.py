"""Settlement configuration: chains, timing, gas, leases; built from a devnet manifest or TOML."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aggregator.devnet.manifest import DevnetManifest
from aggregator.market.snapshot import ChainState
from aggregator.models.timelocks import TimelockPolicy, min_time_left_to_lock, timelock_plan
from aggregator.settlement.machine import SafetyPolicy
from aggregator.settlement.terms import Address

__all__ = ["ChainEndpoint", "GasLimits", "SettlementConfig"]


class ChainEndpoint(BaseModel):
    """One chain the resolver settles on."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="Chain key, e.g. alpha.")
    chain_id: int = Field(gt=0, description="EIP-155 chain id.")
    rpc_url: str = Field(description="HTTP JSON-RPC endpoint.")
    htlc: Address = Field(description="HashedTimelock contract address.")
    confirmations: int = Field(
        ge=1, description="Blocks, counting the including one, before a trader's lock is final."
    )
    block_time_s: float = Field(gt=0, description="Expected seconds between blocks.")
    start_block: int = Field(
        default=0, ge=0, description="First block to read HTLC events from (its deployment)."
    )
    tokens: Mapping[str, Address] = Field(
        default_factory=dict, description="Canonical asset symbol to its token on this chain."
    )

    def timing(self) -> ChainState:
        """The chain's timing as the timelock policy reads it (no head or gas needed)."""
        return ChainState(
            key=self.key,
            chain_id=self.chain_id,
            head=0,
            head_time=0,
            block_time_s=self.block_time_s,
            confirmations=self.confirmations,
            base_fee_wei=0,
            priority_fee_wei=0,
            native_asset="",
            ts_recv=0,
        )


class GasLimits(BaseModel):
    """Gas limits of the resolver's transactions (generous: unused gas is not paid)."""

    model_config = ConfigDict(frozen=True)

    lock: int = Field(default=200_000, gt=0, description="A single lock.")
    lock_batch_base: int = Field(default=60_000, gt=0, description="lockBatch overhead.")
    lock_batch_per_item: int = Field(default=130_000, gt=0, description="lockBatch per lock.")
    claim: int = Field(default=150_000, gt=0, description="A claim.")
    refund: int = Field(default=120_000, gt=0, description="A refund.")
    approve: int = Field(default=100_000, gt=0, description="An ERC-20 approve.")


class SettlementConfig(BaseModel):
    """Everything the coordinator and the settlement service need besides keys."""

    model_config = ConfigDict(frozen=True)

    chains: tuple[ChainEndpoint, ...] = Field(description="Every chain settled on.")
    timelocks: TimelockPolicy = Field(
        default_factory=TimelockPolicy,
        description="The timelock policy quotes are made with; the lock-time safety checks "
        "are derived from it per pair of chains.",
    )
    poll_interval_s: float = Field(
        default=0.005, gt=0, description="Pause between two coordinator ticks."
    )
    lease_ttl_ms: int = Field(default=5_000, gt=0, description="Per-swap lease time to live.")
    receipt_timeout_s: float = Field(
        default=5.0, gt=0, description="Wait for a receipt right after sending before moving on."
    )
    rebroadcast_after_s: float = Field(
        default=2.0, gt=0, description="Send a pending transaction again after this long."
    )
    max_batch: int = Field(default=32, ge=1, description="Most destination locks per lockBatch.")
    lock_window_s: int = Field(
        default=60,
        gt=0,
        description="Trader's time to lock after the swap is created (source chain clock); "
        "both timelocks are pushed back by it so a late lock loses nothing.",
    )
    tip_wei: int = Field(default=1_000_000_000, ge=0, description="Priority fee per gas.")
    gas: GasLimits = Field(default_factory=GasLimits)
    key_prefix: str = Field(default="settle", description="Prefix of every Redis key.")

    def chain(self, key: str) -> ChainEndpoint:
        for chain in self.chains:
            if chain.key == key:
                return chain
        raise KeyError(key)

    def policy_for(self, source_chain: str, destination_chain: str | None) -> SafetyPolicy:
        """What the resolver checks before locking for a swap between these chains.

        From the timelock policy: T_B (the trader's claim window plus inclusion and
        confirmation on B) must still be left on the resolver's lock, and what
        :func:`min_time_left_to_lock` asks beyond T_B must be left between T_B and T_A.
        """
        source = self.chain(source_chain).timing()
        dest = self.chain(destination_chain).timing() if destination_chain else source
        t_b = timelock_plan(self.timelocks, source, dest).destination_timelock_s
        return SafetyPolicy(
            claim_allowance_s=min_time_left_to_lock(self.timelocks, source, dest) - t_b,
            destination_window_s=t_b,
            source_confirmations=source.confirmations,
        )

    @classmethod
    def from_manifest(cls, manifest: DevnetManifest, **overrides: Any) -> SettlementConfig:
        """Chains, contracts and tokens of a running devnet, plus ``overrides``."""
        chains = tuple(
            ChainEndpoint(
                key=c.key,
                chain_id=c.chain_id,
                rpc_url=c.rpc_url,
                htlc=c.htlc,
                confirmations=c.confirmations,
                block_time_s=c.block_time,
                start_block=c.deploy_block,
                tokens={symbol: t.address for symbol, t in c.tokens.items()},
            )
            for c in manifest.chains
        )
        return cls.model_validate({"chains": chains, **overrides})
