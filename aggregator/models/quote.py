"""Quote requests and quotes: what the router promises and why."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aggregator.models.assets import AssetAt, Location
from aggregator.models.market import Side

__all__ = [
    "CostBreakdown",
    "Exclusion",
    "ExclusionReason",
    "Quote",
    "QuoteLeg",
    "QuoteMode",
    "QuotePath",
    "QuoteRequest",
    "SettlementPlan",
]


class QuoteMode(StrEnum):
    EXACT_IN = "exact_in"
    EXACT_OUT = "exact_out"


class QuoteRequest(BaseModel):
    """A trader's request: sell one asset at a location, buy another at a location."""

    model_config = ConfigDict(frozen=True)

    sell: AssetAt
    buy: AssetAt
    mode: QuoteMode = QuoteMode.EXACT_IN
    amount: int = Field(gt=0, description="Base units: input for exact_in, output for exact_out.")
    slippage_bps: int = Field(default=50, ge=0, le=5_000)
    venues_allow: frozenset[str] | None = Field(default=None, description="Only these venues.")
    venues_deny: frozenset[str] = Field(default=frozenset(), description="Never these venues.")
    firm: bool = Field(default=False, description="Reserve inventory for the quote's lifetime.")

    def __hash__(self) -> int:  # equal ones have equal fields: see Location.__hash__
        sell, buy = self.sell, self.buy
        return hash(
            (sell.asset, sell.location.key, buy.asset, buy.location.key, self.amount, self.firm)
        )


class ExclusionReason(StrEnum):
    STALE = "stale"
    QUARANTINED = "quarantined"
    NO_MARKET = "no_market"
    BELOW_MIN_SIZE = "below_min_size"
    GAS_EXCEEDS_GAIN = "gas_exceeds_gain"
    NO_CAPACITY = "no_capacity"
    HOP_LIMIT = "hop_limit"
    DENIED = "denied"
    NOT_ALLOWED = "not_allowed"
    NOT_USED = "not_used"


class Exclusion(BaseModel):
    """A venue or market that takes no part in a quote, and why."""

    model_config = ConfigDict(frozen=True)

    venue: str
    market_id: str | None = None
    reason: ExclusionReason
    detail: str = ""


class QuoteLeg(BaseModel):
    """One hop of one path: a trade on a market or a transfer between locations."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["trade", "transfer"]
    venue: str = Field(description="Connector instance (trade) or 'inventory' (transfer).")
    market_id: str | None = None
    side: Side | None = None
    location: Location
    asset_in: AssetAt
    asset_out: AssetAt
    amount_in: int
    amount_out: int
    share_bps: int = Field(description="This path's share of the order, basis points.")


class QuotePath(BaseModel):
    """A sequence of legs from the sell asset to the buy asset carrying part of the order."""

    model_config = ConfigDict(frozen=True)

    legs: tuple[QuoteLeg, ...]
    amount_in: int
    amount_out: int
    share_bps: int


class CostBreakdown(BaseModel):
    """Every cost, in base units of the output asset."""

    model_config = ConfigDict(frozen=True)

    venue_fees: int = 0
    gas: int = 0
    settlement_gas: int = 0
    transfer: int = 0
    gas_wei_by_chain: dict[str, int] = Field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.venue_fees + self.gas + self.settlement_gas + self.transfer


class SettlementPlan(BaseModel):
    """Where and how the swap settles; timelocks as durations from the lock."""

    model_config = ConfigDict(frozen=True)

    source_chain: str
    source_chain_id: int
    destination_chain: str
    destination_chain_id: int
    source_timelock_s: int = Field(description="T_A: the trader's lock, seconds after locking.")
    destination_timelock_s: int = Field(description="T_B < T_A: the resolver's lock duration.")
    eta_s: int = Field(description="Expected seconds from the trader's lock to delivery.")


class Quote(BaseModel):
    """A priced route with exact amounts, costs, settlement plan and exclusions."""

    model_config = ConfigDict(frozen=True)

    id: str
    request: QuoteRequest
    amount_in: int
    amount_out: int = Field(description="Exact, net of every cost: what the trader receives.")
    min_amount_out: int
    effective_price: Decimal = Field(description="Output per input, whole-token units.")
    price_impact_bps: Decimal
    paths: tuple[QuotePath, ...]
    costs: CostBreakdown
    settlement: SettlementPlan
    best_single_path_out: int
    improvement_bps: Decimal = Field(description="Output against the best single path.")
    excluded: tuple[Exclusion, ...]
    created_ns: int
    expires_ns: int
    snapshot_ns: int = Field(description="ts_recv of the snapshot the quote was computed on.")
    compute_ns: int = 0

    @property
    def legs(self) -> tuple[QuoteLeg, ...]:
        return tuple(leg for path in self.paths for leg in path.legs)
