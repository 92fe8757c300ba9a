"""The central limit order book of one symbol: price levels of FIFO queues.

A side keeps a dict from price (ticks) to a deque of resting orders (arrival order), a dict
of level totals, and a sorted list of level keys whose last element is the best price
(bids are keyed by price, asks by minus price, so both sides keep their best at the end:
reaching the best level and removing it are O(1), adding a new level is a bisect plus a
short memmove). Every level change goes through :meth:`SymbolBook.changed`, which bumps
the symbol's update id and remembers the level's new total for the next ``BookUpdate``.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator

from aggregator.exchange.orders import BookUpdate, Order
from aggregator.exchange.units import SymbolSpec

__all__ = ["BookSide", "SymbolBook"]


class BookSide:
    """One side of a book. ``keys`` is sorted ascending with the best level last."""

    __slots__ = ("is_bid", "keys", "levels", "totals")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[int, deque[Order]] = {}
        self.totals: dict[int, int] = {}
        self.keys: list[int] = []

    def best(self) -> int | None:
        if not self.keys:
            return None
        key = self.keys[-1]
        return key if self.is_bid else -key

    def add(self, order: Order) -> int:
        """Append ``order`` at the back of its level; returns the level's new total."""
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = deque()
            self.totals[price] = 0
            insort(self.keys, price if self.is_bid else -price)
        level.append(order)
        total = self.totals[price] + order.remaining
        self.totals[price] = total
        return total

    def remove(self, order: Order) -> int:
        """Take a resting ``order`` out of its level; returns the level's new total."""
        price = order.price
        level = self.levels[price]
        level.remove(order)
        total = self.totals[price] - order.remaining
        if level:
            self.totals[price] = total
        else:
            self.drop_level(price)
        return total

    def drop_level(self, price: int) -> None:
        del self.levels[price]
        del self.totals[price]
        key = price if self.is_bid else -price
        keys = self.keys
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def prices(self) -> Iterator[int]:
        """Level prices from the best outwards."""
        sign = 1 if self.is_bid else -1
        for key in reversed(self.keys):
            yield sign * key

    def depth(self, limit: int) -> list[tuple[int, int]]:
        """The best ``limit`` levels as ``(price_ticks, total_qty)``."""
        sign = 1 if self.is_bid else -1
        totals = self.totals
        return [(sign * k, totals[sign * k]) for k in reversed(self.keys[-limit:])]

    def orders(self) -> Iterator[Order]:
        """Resting orders in priority order: best price first, then oldest first."""
        for price in self.prices():
            yield from self.levels[price]

    def __len__(self) -> int:
        return len(self.keys)


class SymbolBook:
    """Both sides of one symbol plus its update id and the changes not yet emitted."""

    __slots__ = (
        "_ask_changes",
        "_bid_changes",
        "_first_pending",
        "asks",
        "bids",
        "next_trade_id",
        "spec",
        "update_id",
    )

    def __init__(self, spec: SymbolSpec) -> None:
        self.spec = spec
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
        self.update_id = 0
        self.next_trade_id = 1
        self._first_pending = 0
        self._bid_changes: dict[int, int] = {}
        self._ask_changes: dict[int, int] = {}

    def side(self, is_bid: bool) -> BookSide:
        return self.bids if is_bid else self.asks

    def changed(self, is_bid: bool, price: int, total: int) -> None:
        """Record that the level at ``price`` now holds ``total`` (0: gone)."""
        self.update_id += 1
        if not self._first_pending:
            self._first_pending = self.update_id
        if is_bid:
            self._bid_changes[price] = total
        else:
            self._ask_changes[price] = total

    def take_update(self, ts_event: int) -> BookUpdate | None:
        """The changes since the last call as one ``BookUpdate``, or None if there are none."""
        if not self._first_pending:
            return None
        update = BookUpdate(
            symbol=self.spec.symbol,
            first_update_id=self._first_pending,
            last_update_id=self.update_id,
            bids=tuple(self._bid_changes.items()),
            asks=tuple(self._ask_changes.items()),
            ts_event=ts_event,
        )
        self._first_pending = 0
        self._bid_changes = {}
        self._ask_changes = {}
        return update

    def crossed(self) -> bool:
        bid, ask = self.bids.best(), self.asks.best()
        return bid is not None and ask is not None and bid >= ask
