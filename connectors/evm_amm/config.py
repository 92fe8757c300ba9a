"""Configuration of the EVM AMM connector, and its derivation from a devnet manifest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth_utils.address import is_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

if TYPE_CHECKING:
    from aggregator.devnet.manifest import DevnetManifest

__all__ = ["PLUGIN_NAME", "EvmAmmConfig", "PoolConfig", "configs_from_manifest"]

PLUGIN_NAME = "evm_amm"


def _address(value: str) -> str:
    if not is_address(value):
        raise ValueError(f"not an address: {value!r}")
    return to_checksum_address(value)


class PoolConfig(BaseModel):
    """One constant-product pool on the chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str = Field(description="Pool contract address.")
    base: str = Field(description="Canonical base asset (one of the pool's two tokens).")
    quote: str = Field(description="Canonical quote asset (the other token).")
    fee_bps: int = Field(
        ge=0, lt=10_000, description="Swap fee in basis points; checked against the pool at start."
    )
    base_token: str | None = Field(
        default=None,
        description="Base token address; None takes it from the asset registry's chain tokens.",
    )
    quote_token: str | None = Field(
        default=None,
        description="Quote token address; None takes it from the asset registry's chain tokens.",
    )

    @field_validator("address")
    @classmethod
    def _pool_address(cls, value: str) -> str:
        return _address(value)

    @field_validator("base_token", "quote_token")
    @classmethod
    def _token_address(cls, value: str | None) -> str | None:
        return None if value is None else _address(value)


class EvmAmmConfig(BaseModel):
    """One EVM chain's constant-product pools, followed block by block."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chain: str = Field(description="Chain key, e.g. alpha (the markets' location).")
    chain_id: int = Field(gt=0, description="EIP-155 chain id; checked against the node.")
    rpc_url: str = Field(description="HTTP JSON-RPC endpoint.")
    pools: tuple[PoolConfig, ...] = Field(min_length=1, description="Pools to follow.")
    confirmations: int = Field(
        default=1, ge=0, description="Blocks after inclusion before a lock is trusted."
    )
    block_time_s: float = Field(default=1.0, gt=0, description="Expected seconds per block.")
    native_asset: str = Field(
        default="WETH", description="Canonical asset the native coin is priced as (for gas)."
    )
    executor_private_key: SecretStr | None = Field(
        default=None, description="Key of the account that swaps; None disables execute."
    )
    poll_interval_s: float | None = Field(
        default=None, gt=0, description="Head poll interval; None is a quarter of block_time_s."
    )
    stale_after_blocks: float = Field(
        default=3.0, gt=1, description="STALE after this many block times without a new head."
    )
    priority_fee_wei: int | None = Field(
        default=None, ge=0, description="Priority tip; None reads eth_maxPriorityFeePerGas."
    )
    request_timeout_s: float = Field(default=2.0, gt=0, description="Timeout of one RPC POST.")
    backoff_initial_s: float = Field(
        default=0.1, gt=0, description="First retry delay after an RPC failure."
    )
    backoff_max_s: float = Field(
        default=2.0, gt=0, description="Retry delays double up to this bound."
    )
    receipt_timeout_s: float = Field(
        default=10.0, gt=0, description="How long execute waits for a receipt."
    )

    @field_validator("rpc_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("rpc_url must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _unique_pools(self) -> EvmAmmConfig:
        addresses = [p.address for p in self.pools]
        if len(set(addresses)) != len(addresses):
            raise ValueError("a pool is listed twice")
        return self

    @property
    def poll_s(self) -> float:
        return self.poll_interval_s or self.block_time_s / 4


def configs_from_manifest(manifest: DevnetManifest) -> list[dict[str, Any]]:
    """One ``evm_amm`` instance per devnet chain, named by its key, with all its pools.

    The executor is the devnet's resolver account.
    """
    out: list[dict[str, Any]] = []
    for chain in manifest.chains:
        config = {
            "chain": chain.key,
            "chain_id": chain.chain_id,
            "rpc_url": chain.rpc_url,
            "confirmations": chain.confirmations,
            "block_time_s": float(chain.block_time),
            "executor_private_key": manifest.accounts.resolver.private_key.get_secret_value(),
            "pools": [
                {
                    "address": pool.address,
                    "base": pool.symbol0,
                    "quote": pool.symbol1,
                    "fee_bps": pool.fee_bps,
                    "base_token": pool.token0,
                    "quote_token": pool.token1,
                }
                for pool in chain.pools
            ],
        }
        EvmAmmConfig.model_validate(config)
        out.append({"name": chain.key, "plugin": PLUGIN_NAME, "config": config})
    return out
