"""The matching engine: books, accounts and orders of the devnet exchange.

Pure, synchronous and free of I/O: every method takes the event time ``ts`` (integer
nanoseconds) from the caller. One engine holds a price-time-priority book per symbol
(``book.py``), the balances of every account (``ledger.py``) and the orders. After each
public operation, or at the end of a :meth:`MatchingEngine.batch`, it hands its listeners
the events of that operation: one ``BookUpdate`` per touched symbol (covering a contiguous
range of update ids) and the ``TradeEvent``s in trade order.

Reservations: a LIMIT buy locks ``quantity * price`` of quote, a sell locks its quantity
of base. A MARKET buy by quantity (or sell by ``quoteOrderQty``) first computes what it
would trade now (:func:`~aggregator.exchange.matching.plan`) and locks exactly that.
A buy filled below its limit gets the difference back at once; whatever an order does
not use returns to free when it leaves the book.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

from aggregator.exchange.book import SymbolBook
from aggregator.exchange.errors import (
    BadParameterError,
    CancelRejectedError,
    InvalidSymbolError,
    NoSuchOrderError,
    OrderRejectedError,
)
from aggregator.exchange.ledger import Account, Balance, Ledger
from aggregator.exchange.matching import FeeSchedule, Stop, match, plan
from aggregator.exchange.orders import (
    Event,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderView,
    SelfTradePrevention,
    Side,
    TimeInForce,
    TradeEvent,
)
from aggregator.exchange.units import SymbolSpec
from aggregator.exchange.validation import validate

__all__ = ["DepthSnapshot", "EventListener", "FeeSchedule", "MatchingEngine", "PlaceResult"]

EventListener = Callable[[Sequence[Event]], None]

# The quantity bound of a quoteOrderQty order, which is limited by its budget instead.
_UNBOUNDED = 1 << 255


class PlaceResult(NamedTuple):
    order: OrderView
    fills: tuple[Fill, ...]


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    symbol: str
    last_update_id: int
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]


class MatchingEngine:
    """Books, balances and orders of every symbol; see the module docstring."""

    def __init__(
        self,
        symbols: Iterable[SymbolSpec],
        *,
        fees: FeeSchedule | None = None,
        fee_account: str = "fees",
        history_per_account: int = 10_000,
    ) -> None:
        self._books: dict[str, SymbolBook] = {s.symbol: SymbolBook(s) for s in symbols}
        self._default_stp = {
            name: SelfTradePrevention(book.spec.default_stp) for name, book in self._books.items()
        }
        assets: dict[str, None] = {}
        for book in self._books.values():
            assets[book.spec.base] = assets[book.spec.quote] = None
        self.ledger = Ledger(assets)
        self.fees = fees or FeeSchedule()
        self.fee_account = fee_account
        self._fee_acct = self.ledger.open(fee_account)
        self._history_limit = history_per_account
        self._orders: dict[int, Order] = {}
        self._open: dict[str, dict[int, Order]] = {}
        self._client_ids: dict[tuple[str, str], int] = {}
        self._history: dict[str, deque[int]] = {}
        self._next_order_id = 1
        self._listeners: list[EventListener] = []
        self._batch_depth = 0
        self._dirty: dict[str, SymbolBook] = {}
        self._trades: list[TradeEvent] = []
        self._last_ts = 0

    # -- set-up and inspection -----------------------------------------------------------

    @property
    def symbols(self) -> list[SymbolSpec]:
        return [book.spec for book in self._books.values()]

    def spec(self, symbol: str) -> SymbolSpec:
        return self._book(symbol).spec

    def book(self, symbol: str) -> SymbolBook:
        """The live book (read it, never change it)."""
        return self._book(symbol)

    def open_account(self, name: str, balances: Mapping[str, int] | None = None) -> None:
        self.ledger.open(name, balances)
        self._open.setdefault(name, {})

    def balances(self, account: str) -> list[Balance]:
        """Free and locked units of every asset (also of the fee account)."""
        if account not in self.ledger:
            raise OrderRejectedError(f"Unknown account {account!r}.")
        return self.ledger.balances(account)

    def subscribe(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Emit the events of every operation inside as one set, at the end."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            self._emit()

    def depth(self, symbol: str, limit: int) -> DepthSnapshot:
        book = self._book(symbol)
        return DepthSnapshot(symbol, book.update_id, book.bids.depth(limit), book.asks.depth(limit))

    # -- orders ----------------------------------------------------------------------------

    def place(self, req: OrderRequest, ts: int) -> PlaceResult:
        """Validate, reserve, match and (LIMIT GTC) rest a new order."""
        book = self._book(req.symbol)
        account = self.ledger.accounts.get(req.account)
        if account is None or req.account not in self._open:
            self._account(req.account)  # raises
        assert account is not None
        spec = book.spec
        is_buy = req.side is Side.BUY
        limit = validate(req, book)
        stp = req.stp or self._default_stp[spec.symbol]
        cid = req.client_order_id
        if cid is not None:
            existing = self._client_ids.get((req.account, cid))
            if existing is not None and existing in self._open[req.account]:
                raise OrderRejectedError("Duplicate order sent.")
        order = Order(self._next_order_id, req, cid or f"venue-{self._next_order_id}", stp, ts)
        max_quote: int | None = None
        if req.type is OrderType.MARKET:
            if req.quantity is not None:
                reserve = req.quantity
                if is_buy:
                    reserve = max_quote = plan(book, True, req.account, stp, req.quantity, None)[1]
            else:
                max_quote = req.quote_order_qty
                if is_buy:
                    reserve = max_quote or 0
                    order.remaining = _UNBOUNDED
                else:
                    reserve = order.remaining = plan(
                        book, False, req.account, stp, _UNBOUNDED, max_quote
                    )[0]
        else:
            assert req.quantity is not None and limit is not None
            reserve = spec.quote_units(req.quantity, limit) if is_buy else req.quantity
        asset = spec.quote if is_buy else spec.base
        account.lock(asset, reserve)
        order.reserved = reserve
        self._next_order_id += 1
        self._dirty[spec.symbol] = book
        self._last_ts = ts
        fills: list[Fill] = []
        stop = Stop.BOOK
        opposite = (book.asks if is_buy else book.bids).best()
        if (
            req.type is not OrderType.LIMIT_MAKER
            and opposite is not None
            and (limit is None or (opposite <= limit if is_buy else opposite >= limit))
        ):
            stop = match(
                book,
                order,
                self.ledger.accounts,
                self._fee_acct,
                self.fees,
                max_quote,
                limit,
                ts,
                fills,
                self._trades,
                self._retire,
            )
        self._orders[order.order_id] = order
        self._client_ids[(order.account, order.client_order_id)] = order.order_id
        rests = req.type is not OrderType.MARKET and req.time_in_force is TimeInForce.GTC
        if rests and order.remaining and stop is not Stop.STP:
            assert limit is not None
            need = spec.quote_units(order.remaining, limit) if is_buy else order.remaining
            if order.reserved > need:
                account.unlock(asset, order.reserved - need)
                order.reserved = need
            side = book.side(is_buy)
            book.changed(is_buy, limit, side.add(order))
            order.status = OrderStatus.PARTIALLY_FILLED if order.executed else OrderStatus.NEW
            self._open[order.account][order.order_id] = order
        else:
            if order.reserved:
                account.unlock(asset, order.reserved)
                order.reserved = 0
            if req.quote_order_qty is not None:
                order.orig_qty = order.executed
                order.remaining = 0
                done = stop is Stop.QUOTE and order.executed > 0
            else:
                done = order.remaining == 0
            if done:
                order.status = OrderStatus.FILLED
            elif stop is Stop.STP:
                order.status = OrderStatus.EXPIRED_IN_MATCH
            else:
                order.status = OrderStatus.EXPIRED
            self._retire(order)
        view = order.view()
        self._emit()
        return PlaceResult(view, tuple(fills))

    def cancel(
        self,
        account: str,
        symbol: str,
        ts: int,
        *,
        order_id: int | None = None,
        client_order_id: str | None = None,
    ) -> OrderView:
        """Cancel an open order; -2011 if it is unknown, not this account's, or closed."""
        book = self._book(symbol)
        acct = self._account(account)
        order = self._find(account, symbol, order_id, client_order_id)
        if order is None or order.order_id not in self._open[account]:
            raise CancelRejectedError()
        total = book.side(order.is_buy).remove(order)
        self._dirty[symbol] = book
        self._last_ts = ts
        book.changed(order.is_buy, order.price, total)
        acct.unlock(book.spec.quote if order.is_buy else book.spec.base, order.reserved)
        order.reserved = 0
        order.status = OrderStatus.CANCELED
        order.ts_updated = ts
        self._retire(order)
        view = order.view()
        self._emit()
        return view

    def cancel_all(self, account: str, symbol: str, ts: int) -> list[OrderView]:
        """Cancel every open order of ``account`` on ``symbol`` (one event set)."""
        self._book(symbol)
        ids = [o.order_id for o in self._open_orders(account) if o.request.symbol == symbol]
        with self.batch():
            return [self.cancel(account, symbol, ts, order_id=i) for i in ids]

    def order(
        self,
        account: str,
        symbol: str,
        *,
        order_id: int | None = None,
        client_order_id: str | None = None,
    ) -> OrderView:
        """An order of ``account`` (open, or among its recent closed ones); -2013 if none."""
        self._book(symbol)
        self._account(account)
        order = self._find(account, symbol, order_id, client_order_id)
        if order is None:
            raise NoSuchOrderError()
        return order.view()

    def open_orders(self, account: str, symbol: str | None = None) -> list[OrderView]:
        if symbol is not None:
            self._book(symbol)
        self._account(account)
        return [
            o.view()
            for o in self._open_orders(account)
            if symbol is None or o.request.symbol == symbol
        ]

    def open_executed_qty(self, account: str, order_id: int) -> int | None:
        """Executed quantity of an open order of ``account``; None if it is not open."""
        order = self._open.get(account, {}).get(order_id)
        return None if order is None else order.executed

    # -- internals ------------------------------------------------------------------------

    def _book(self, symbol: str) -> SymbolBook:
        book = self._books.get(symbol)
        if book is None:
            raise InvalidSymbolError()
        return book

    def _account(self, name: str) -> Account:
        if name not in self.ledger or name not in self._open:
            raise OrderRejectedError(f"Unknown account {name!r}.")
        return self.ledger[name]

    def _open_orders(self, account: str) -> list[Order]:
        return sorted(self._open.get(account, {}).values(), key=lambda o: o.order_id)

    def _find(
        self, account: str, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> Order | None:
        if order_id is None:
            if client_order_id is None:
                raise BadParameterError(
                    "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
                )
            order_id = self._client_ids.get((account, client_order_id))
        order = self._orders.get(order_id) if order_id is not None else None
        if order is None or order.account != account or order.request.symbol != symbol:
            return None
        if client_order_id is not None and order.client_order_id != client_order_id:
            return None
        return order

    def _retire(self, order: Order) -> None:
        """Move a closed order from the open set to its account's bounded history."""
        self._open[order.account].pop(order.order_id, None)
        history = self._history.get(order.account)
        if history is None:
            history = self._history[order.account] = deque()
        history.append(order.order_id)
        if len(history) > self._history_limit:
            old = self._orders.pop(history.popleft(), None)
            if old is not None:
                key = (old.account, old.client_order_id)
                if self._client_ids.get(key) == old.order_id:
                    del self._client_ids[key]

    def _emit(self) -> None:
        if self._batch_depth or not (self._dirty or self._trades):
            return
        events: list[Event] = []
        for book in self._dirty.values():
            update = book.take_update(self._last_ts)
            if update is not None:
                events.append(update)
        events.extend(self._trades)
        self._dirty = {}
        self._trades = []
        if events:
            for listener in self._listeners:
                listener(events)
