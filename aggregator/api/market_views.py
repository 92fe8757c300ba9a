"""Response bodies of the market-data endpoints: venues, markets, books, health, ping."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aggregator.market.snapshot import ChainState
from aggregator.models.liquidity import BookLevel, DepthLadder, Liquidity, OrderBook
from aggregator.models.market import Market
from aggregator.plugins.protocol import Health

__all__ = [
    "BookView",
    "ChainHealthView",
    "ConnectorHealthView",
    "HealthView",
    "LevelView",
    "MarketListView",
    "MarketView",
    "PingView",
    "VenueListView",
    "VenueView",
    "book_view",
    "chain_health_view",
    "connector_health_view",
    "market_view",
]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class PingView(_View):
    status: Literal["ok"] = "ok"


class VenueView(_View):
    name: str
    kind: Literal["book", "amm", "mixed", "none"] = Field(description="What its markets are.")
    location: str | None = Field(description="Chain or venue key of its markets.")
    status: str = Field(description="healthy, starting, stale, quarantined or stopped.")
    reason: str | None
    markets: int


class VenueListView(_View):
    venues: list[VenueView]


class MarketView(_View):
    id: str
    venue: str
    kind: Literal["book", "amm"]
    location: str
    chain_id: int | None
    base: str
    quote: str
    symbol: str
    tick_size: str
    lot_size: str
    min_size: str
    fee_bps: int
    address: str | None
    mid: str | None = Field(description="Mid price, quote per base (null without data).")
    sequence: int | None
    ts_event: int | None
    ts_recv: int | None


class MarketListView(_View):
    markets: list[MarketView]


class LevelView(_View):
    price: str = Field(description="Quote per base, whole-token units.")
    size: str = Field(description="Base units of the base asset.")


class BookView(_View):
    """Depth as a ladder at fixed price steps from the mid (books and AMM pools alike)."""

    market_id: str
    venue: str
    kind: Literal["book", "amm"]
    mid: str | None
    step_bps: int
    bids: list[LevelView]
    asks: list[LevelView]
    top_bids: list[LevelView] | None = Field(description="The book's best levels (books only).")
    top_asks: list[LevelView] | None
    sequence: int
    ts_event: int
    ts_recv: int


class ConnectorHealthView(_View):
    name: str
    status: str
    reason: str | None
    last_sequence: int | None
    age_ms: int | None = Field(description="Milliseconds since its last update.")
    quarantined: dict[str, str]


class ChainHealthView(_View):
    key: str
    chain_id: int
    head: int
    head_time: int
    age_ms: int
    gas_price_wei: str
    confirmations: int


class HealthView(_View):
    status: Literal["ok", "degraded", "down"]
    market_data: bool = Field(description="The market-data process is publishing.")
    redis: bool
    connectors: list[ConnectorHealthView]
    chains: list[ChainHealthView]


def _levels(levels: tuple[BookLevel, ...]) -> list[LevelView]:
    return [LevelView.model_construct(price=str(p), size=str(s)) for p, s in levels]


def _mid(liquidity: Liquidity | None) -> str | None:
    mid = None if liquidity is None else liquidity.mid_price()
    return None if mid is None else str(mid.normalize() if mid == mid.to_integral() else mid)


def market_view(market: Market, liquidity: Liquidity | None) -> MarketView:
    return MarketView.model_construct(
        id=market.id,
        venue=market.venue,
        kind=market.kind.value,
        location=market.location.key,
        chain_id=market.location.chain_id,
        base=market.base.asset,
        quote=market.quote.asset,
        symbol=market.symbol,
        tick_size=str(market.tick_size),
        lot_size=str(market.lot_size),
        min_size=str(market.min_size),
        fee_bps=market.fee_bps,
        address=market.address,
        mid=_mid(liquidity),
        sequence=None if liquidity is None else liquidity.sequence,
        ts_event=None if liquidity is None else liquidity.ts_event,
        ts_recv=None if liquidity is None else liquidity.ts_recv,
    )


def book_view(market: Market, liquidity: Liquidity, step_bps: int, levels: int) -> BookView:
    ladder: DepthLadder = liquidity.depth_ladder(step_bps, levels)
    mid: Decimal | None = liquidity.mid_price()
    return BookView.model_construct(
        market_id=market.id,
        venue=market.venue,
        kind=market.kind.value,
        mid=None if mid is None else str(mid),
        step_bps=step_bps,
        bids=_levels(ladder.bids),
        asks=_levels(ladder.asks),
        top_bids=_levels(liquidity.bids[:levels]) if isinstance(liquidity, OrderBook) else None,
        top_asks=_levels(liquidity.asks[:levels]) if isinstance(liquidity, OrderBook) else None,
        sequence=liquidity.sequence,
        ts_event=liquidity.ts_event,
        ts_recv=liquidity.ts_recv,
    )


def connector_health_view(health: Health, now_ns: int) -> ConnectorHealthView:
    age = None if health.last_update_ns is None else (now_ns - health.last_update_ns) // 1_000_000
    return ConnectorHealthView.model_construct(
        name=health.connector,
        status=health.status.value,
        reason=health.reason,
        last_sequence=health.last_sequence,
        age_ms=age,
        quarantined=dict(health.quarantined),
    )


def chain_health_view(chain: ChainState, now_ns: int) -> ChainHealthView:
    return ChainHealthView.model_construct(
        key=chain.key,
        chain_id=chain.chain_id,
        head=chain.head,
        head_time=chain.head_time,
        age_ms=max(0, (now_ns - chain.ts_recv) // 1_000_000),
        gas_price_wei=str(chain.gas_price_wei),
        confirmations=chain.confirmations,
    )
