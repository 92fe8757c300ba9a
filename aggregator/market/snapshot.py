"""The market snapshot: one immutable view of every source, for the router.

Everything the router needs is here, so routing does no I/O: markets and
their latest liquidity (stale or quarantined sources left out, each with its
reason), chain heads and gas prices, the resolver's inventory net of
reservations, transfer costs, and reference prices for converting gas.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field

from aggregator.models.assets import AssetAt
from aggregator.models.liquidity import Liquidity
from aggregator.models.market import Market
from aggregator.models.quote import Exclusion

__all__ = ["ChainState", "InventoryLine", "MarketSnapshot", "TransferCost"]


class ChainState(BaseModel):
    """A chain's head, timing and gas, as last seen."""

    model_config = ConfigDict(frozen=True)

    key: str
    chain_id: int
    head: int = Field(description="Latest block number.")
    head_time: int = Field(description="Latest block's timestamp, seconds (chain clock).")
    block_time_s: float = Field(gt=0, description="Expected seconds between blocks.")
    confirmations: int = Field(ge=0, description="Blocks to wait before trusting a lock.")
    base_fee_wei: int = Field(ge=0)
    priority_fee_wei: int = Field(ge=0)
    native_asset: str = Field(description="Canonical asset the native coin is priced as.")
    ts_recv: int

    @property
    def gas_price_wei(self) -> int:
        return self.base_fee_wei + self.priority_fee_wei


class InventoryLine(BaseModel):
    """The resolver's free inventory of one asset at one location."""

    model_config = ConfigDict(frozen=True)

    asset_at: AssetAt
    available: int = Field(description="Holdings minus reservations, base units.")


class TransferCost(BaseModel):
    """Cost of moving an asset between two of the resolver's locations."""

    model_config = ConfigDict(frozen=True)

    bps: int = Field(default=5, ge=0, description="Proportional cost in basis points.")
    gas: int = Field(default=65_000, ge=0, description="Gas spent on the source chain, if any.")


class MarketSnapshot(BaseModel):
    """Latest liquidity of every usable source, with the reasons others are left out."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    ts_recv: int = Field(description="When the snapshot was assembled, ns.")
    markets: Mapping[str, Market]
    liquidity: Mapping[str, Liquidity] = Field(description="Market id to its latest liquidity.")
    chains: Mapping[str, ChainState]
    inventory: tuple[InventoryLine, ...] = ()
    transfer_cost: TransferCost = TransferCost()
    reference_prices: Mapping[str, Decimal] = Field(
        default_factory=dict,
        description="Asset to a common numeraire (USD per whole unit), for converting gas.",
    )
    venues: tuple[str, ...] = Field(default=(), description="Every configured connector.")
    excluded: tuple[Exclusion, ...] = Field(
        default=(), description="Sources and markets left out, with the reason."
    )
    topology_key: str = Field(
        default="", description="Changes whenever markets or locations change (path cache key)."
    )

    @cached_property
    def inventory_by_asset(self) -> dict[AssetAt, int]:
        return {line.asset_at: line.available for line in self.inventory}
