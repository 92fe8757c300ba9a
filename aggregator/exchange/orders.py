"""Orders, fills and the events the matching engine emits.

``Order`` is the engine's own mutable record (slots, no validation: it is on the hot
path) and never leaves the engine; callers get immutable ``OrderView`` snapshots (named
tuples, like the fills and trades, because they are made on every operation). Names and
statuses follow Binance Spot (``EXPIRED_IN_MATCH`` is the status of an order expired by
self-trade prevention). All amounts are integers: prices in ticks, quantities in base
units of the base asset, quote amounts in base units of the quote asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

__all__ = [
    "BookUpdate",
    "Event",
    "Fill",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "OrderView",
    "SelfTradePrevention",
    "Side",
    "TimeInForce",
    "TradeEvent",
]


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    LIMIT_MAKER = "LIMIT_MAKER"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"


class SelfTradePrevention(StrEnum):
    """Binance's modes; the taker's mode decides what happens when it meets its own order."""

    NONE = "NONE"
    EXPIRE_TAKER = "EXPIRE_TAKER"
    EXPIRE_MAKER = "EXPIRE_MAKER"
    EXPIRE_BOTH = "EXPIRE_BOTH"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A new order. ``quantity`` xor ``quote_order_qty`` for MARKET; LIMIT needs a price."""

    account: str
    symbol: str
    side: Side
    type: OrderType
    quantity: int | None = None
    price: int | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    quote_order_qty: int | None = None
    client_order_id: str | None = None
    stp: SelfTradePrevention | None = None


class Order:
    """The engine's live record of one order (mutable, internal)."""

    __slots__ = (
        "account",
        "client_order_id",
        "cum_quote",
        "executed",
        "is_buy",
        "order_id",
        "orig_qty",
        "orig_quote_qty",
        "price",
        "remaining",
        "request",
        "reserved",
        "status",
        "stp",
        "ts_created",
        "ts_updated",
    )

    def __init__(
        self,
        order_id: int,
        request: OrderRequest,
        client_order_id: str,
        stp: SelfTradePrevention,
        ts: int,
    ) -> None:
        self.order_id = order_id
        self.request = request
        self.account = request.account
        self.client_order_id = client_order_id
        self.is_buy = request.side is Side.BUY
        self.price = request.price or 0
        self.orig_qty = request.quantity or 0
        self.orig_quote_qty = request.quote_order_qty or 0
        self.remaining = self.orig_qty
        self.executed = 0
        self.cum_quote = 0
        self.reserved = 0
        self.status = OrderStatus.NEW
        self.stp = stp
        self.ts_created = ts
        self.ts_updated = ts

    def view(self) -> OrderView:
        r = self.request
        return OrderView(
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            account=self.account,
            symbol=r.symbol,
            side=r.side,
            type=r.type,
            time_in_force=r.time_in_force,
            price=self.price,
            orig_qty=self.orig_qty,
            executed_qty=self.executed,
            cumulative_quote=self.cum_quote,
            orig_quote_order_qty=self.orig_quote_qty,
            status=self.status,
            stp=self.stp,
            ts_created=self.ts_created,
            ts_updated=self.ts_updated,
        )


class OrderView(NamedTuple):
    """A snapshot of an order; timestamps are integer nanoseconds."""

    order_id: int
    client_order_id: str
    account: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    price: int
    orig_qty: int
    executed_qty: int
    cumulative_quote: int
    orig_quote_order_qty: int
    status: OrderStatus
    stp: SelfTradePrevention
    ts_created: int
    ts_updated: int

    @property
    def is_open(self) -> bool:
        return self.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class Fill(NamedTuple):
    """One trade of a taker order, from the taker's side."""

    trade_id: int
    price: int
    qty: int
    quote: int
    commission: int
    commission_asset: str
    maker_order_id: int


class TradeEvent(NamedTuple):
    symbol: str
    trade_id: int
    price: int
    qty: int
    quote: int
    buyer_order_id: int
    seller_order_id: int
    buyer_account: str
    seller_account: str
    buyer_is_maker: bool
    ts_event: int


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """Level changes of one symbol over update ids ``first_update_id..last_update_id``.

    Each entry is ``(price_ticks, new_total_qty)``; a quantity of 0 removes the level.
    Every single level change increments the symbol's update id, so consecutive updates of
    a symbol always satisfy ``next.first_update_id == previous.last_update_id + 1``.
    """

    symbol: str
    first_update_id: int
    last_update_id: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]
    ts_event: int


Event = BookUpdate | TradeEvent
