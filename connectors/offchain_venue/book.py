"""The in-memory L2 book of one market, built for applying depth diffs fast.

Each side is a dict from price key (an integer, see :mod:`convert`) to size (base units)
plus a sorted list of the keys. Bids are kept as negated keys, so both lists are sorted
best first. Changing the size of an existing level is one dict store; adding or removing
a level is a bisect plus a short list move. Nothing is allocated per level beyond that.

The domain :class:`~aggregator.models.OrderBook` is published lazily: :meth:`LevelBook.view`
builds it at most once per sequence, without re-validating levels the book already
keeps sorted and positive.

An optional bounded *undo log* remembers, for each applied diff, the sizes it replaced.
It makes the book's state at any recent update id reconstructible (:meth:`LevelBook.at`)
for consistency checks, at the cost of one extra dict read per level change.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable

from aggregator.models import BookLevel, OrderBook
from connectors.offchain_venue.convert import MarketSpec

__all__ = ["BookSide", "LevelBook"]

Undo = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]
"""Previous ``(price_key, size)`` of every bid and ask level a diff changed (0: absent).

The log holds ``(sequence, ts_event, ts_recv, undo)`` of the state *before* each diff."""


class BookSide:
    """One side: ``sizes`` by price key and ``keys`` sorted best first."""

    __slots__ = ("keys", "sign", "sizes")

    def __init__(self, is_bid: bool) -> None:
        self.sign = -1 if is_bid else 1
        self.sizes: dict[int, int] = {}
        self.keys: list[int] = []

    def load(self, levels: Iterable[tuple[int, int]]) -> None:
        sizes = {price: size for price, size in levels if size > 0}
        self.sizes = sizes
        self.keys = sorted(self.sign * price for price in sizes)

    def set(self, price: int, size: int) -> int:
        """Set the level at ``price`` to ``size`` (0 removes it); returns the previous size."""
        sizes = self.sizes
        old = sizes.get(price, 0)
        if size:
            sizes[price] = size
            if not old:
                keys = self.keys
                key = self.sign * price
                keys.insert(bisect_left(keys, key), key)
        elif old:
            del sizes[price]
            keys = self.keys
            del keys[bisect_left(keys, self.sign * price)]
        return old

    def best(self) -> int | None:
        return self.sign * self.keys[0] if self.keys else None

    def top(self, limit: int) -> list[tuple[int, int]]:
        """The best ``limit`` levels as ``(price_key, size)``."""
        sign, sizes = self.sign, self.sizes
        return [(sign * k, sizes[sign * k]) for k in self.keys[:limit]]

    def __len__(self) -> int:
        return len(self.keys)


class LevelBook:
    """Both sides of a market, the update id they reflect and an optional undo log."""

    __slots__ = (
        "_cached",
        "_history",
        "asks",
        "bids",
        "depth",
        "sequence",
        "spec",
        "ts_event",
        "ts_recv",
    )

    def __init__(self, spec: MarketSpec, *, depth: int | None = None, history: int = 0) -> None:
        self.spec = spec
        self.depth = depth
        """Levels per side in published views (None: all)."""
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
        self.sequence = 0
        self.ts_event = 0
        self.ts_recv = 0
        self._cached: OrderBook | None = None
        self._history: deque[tuple[int, int, int, Undo]] | None = (
            deque(maxlen=history) if history > 0 else None
        )

    def load(
        self,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        sequence: int,
        ts_event: int,
        ts_recv: int,
    ) -> None:
        """Replace the whole book with a snapshot at ``sequence``; forgets the undo log."""
        self.bids.load(bids)
        self.asks.load(asks)
        self.sequence = sequence
        self.ts_event = ts_event
        self.ts_recv = ts_recv
        self._cached = None
        if self._history is not None:
            self._history.clear()

    def apply(
        self,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        last: int,
        ts_event: int,
        ts_recv: int,
    ) -> None:
        """Apply one diff that brings the book to update id ``last`` (sizes are new totals)."""
        bid_set, ask_set = self.bids.set, self.asks.set
        history = self._history
        if history is None:
            for price, size in bids:
                bid_set(price, size)
            for price, size in asks:
                ask_set(price, size)
        else:
            undo_bids = tuple([(price, bid_set(price, size)) for price, size in bids])
            undo_asks = tuple([(price, ask_set(price, size)) for price, size in asks])
            history.append((self.sequence, self.ts_event, self.ts_recv, (undo_bids, undo_asks)))
        self.sequence = last
        self.ts_event = ts_event
        self.ts_recv = ts_recv
        self._cached = None

    def crossed(self) -> bool:
        bid, ask = self.bids.best(), self.asks.best()
        return bid is not None and ask is not None and bid >= ask

    def view(self) -> OrderBook:
        """The book as a domain ``OrderBook``, built at most once per sequence."""
        cached = self._cached
        if cached is not None:
            return cached
        limit = self.depth if self.depth is not None else max(len(self.bids), len(self.asks))
        book = self._build(
            self.bids.top(limit), self.asks.top(limit), self.sequence, self.ts_event, self.ts_recv
        )
        self._cached = book
        return book

    def at(self, sequence: int) -> OrderBook | None:
        """The book as it was right after update id ``sequence``, if the undo log reaches it.

        None when ``sequence`` is older than the log, falls strictly inside one diff's
        update-id range, or is newer than the book.
        """
        if sequence == self.sequence:
            return self.view()
        history = self._history
        if history is None or sequence > self.sequence:
            return None
        bids = dict(self.bids.sizes)
        asks = dict(self.asks.sizes)
        for previous, ts_event, ts_recv, (undo_bids, undo_asks) in reversed(history):
            for side, undo in ((bids, undo_bids), (asks, undo_asks)):
                for price, size in reversed(undo):
                    if size:
                        side[price] = size
                    else:
                        side.pop(price, None)
            if previous <= sequence:
                if previous < sequence:
                    return None
                limit = self.depth if self.depth is not None else max(len(bids), len(asks))
                bid_levels = sorted(bids.items(), reverse=True)[:limit]
                ask_levels = sorted(asks.items())[:limit]
                return self._build(bid_levels, ask_levels, sequence, ts_event, ts_recv)
        return None

    def _build(
        self,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        sequence: int,
        ts_event: int,
        ts_recv: int,
    ) -> OrderBook:
        spec = self.spec
        price = spec.price
        return OrderBook.trusted(
            market_id=spec.market.id,
            bids=tuple([BookLevel(price(p), q) for p, q in bids]),
            asks=tuple([BookLevel(price(p), q) for p, q in asks]),
            base_decimals=spec.base_decimals,
            quote_decimals=spec.quote_decimals,
            lot_size=spec.market.lot_size,
            fee_bps=spec.market.fee_bps,
            sequence=sequence,
            ts_event=ts_event,
            ts_recv=ts_recv,
        )
