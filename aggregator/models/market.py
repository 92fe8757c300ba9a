"""Markets: one venue's trading pair, in one direction or the other."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from aggregator.models.assets import AssetAt, Location

__all__ = ["Market", "MarketKind", "Side"]


class Side(StrEnum):
    """Which way a trade goes through a market."""

    SELL_BASE = "sell_base"
    """Base in, quote out (hits the bids)."""
    BUY_BASE = "buy_base"
    """Quote in, base out (lifts the asks)."""

    @property
    def opposite(self) -> Side:
        return Side.BUY_BASE if self is Side.SELL_BASE else Side.SELL_BASE


class MarketKind(StrEnum):
    BOOK = "book"
    AMM = "amm"


class Market(BaseModel):
    """A base/quote pair at one venue (an order book or an AMM pool)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Unique market id, e.g. clob:WETHUSDC or alpha:0xPool.")
    venue: str = Field(description="Name of the connector instance serving the market.")
    kind: MarketKind
    location: Location = Field(description="Where the trade happens (chain or venue).")
    base: AssetAt
    quote: AssetAt
    symbol: str = Field(description="The venue's own name for the market.")
    tick_size: Decimal = Field(gt=0, description="Price increment, quote per base.")
    lot_size: int = Field(gt=0, description="Quantity increment of the base, in base units.")
    min_size: int = Field(ge=0, description="Smallest order, in base units of the base.")
    fee_bps: int = Field(ge=0, lt=10_000, description="Taker or pool fee in basis points.")
    address: str | None = Field(default=None, description="Pool contract address (AMM only).")

    def asset_in(self, side: Side) -> AssetAt:
        return self.base if side is Side.SELL_BASE else self.quote

    def asset_out(self, side: Side) -> AssetAt:
        return self.quote if side is Side.SELL_BASE else self.base
