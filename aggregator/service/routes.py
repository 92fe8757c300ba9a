"""A worker's routes: memoized per snapshot, and priced ahead when a newer snapshot comes.

Routing is a pure function of (snapshot, request), so the routes of the
current snapshot are memoized: the same request on the same snapshot is
answered from the memo (errors included).

When the snapshot source has built a newer snapshot, the requests most asked
for on the current one (:attr:`RouteMemo.warm_count` of them) are first priced
on the newer one in the background, one route per event-loop turn, and the
newer snapshot becomes current when they are done, or ``warm_s`` after it was
built at the latest, whichever comes first. Until then quotes are still made
on, and stamped with, the snapshot that is current; after the switch no quote
is made on the older one. Without it, every request in flight right after a
change waited for the routes of all the others, computed back to back on the
event loop. The routes priced ahead are spread over most of the window, each
followed by a pause of up to three times its own time, so that a request in
flight meets about one of them rather than a run of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from typing import Protocol

from aggregator.errors import AggregatorError
from aggregator.market.snapshot import MarketSnapshot
from aggregator.models.quote import Quote, QuoteRequest

__all__ = ["Pricer", "RouteMemo", "SnapshotFeed"]

Found = Quote | AggregatorError

_clock = time.monotonic
_WARM_SHARE = 0.8
"""Share of the warm-up window the hot routes are spread over."""
_PAUSE_RATIO = 3.0
"""Longest pause after a route priced ahead, in multiples of the time it took."""


class Pricer(Protocol):
    """What routes a request on a snapshot (the router)."""

    def quote(self, snapshot: MarketSnapshot, request: QuoteRequest) -> Quote: ...


class SnapshotFeed(Protocol):
    """The newest snapshot and its number (a :class:`~aggregator.service.SnapshotSource`)."""

    @property
    def generation(self) -> int: ...

    def current(self) -> MarketSnapshot: ...


class _Warming:
    """A newer snapshot whose hot routes are being priced."""

    __slots__ = ("done", "generation", "memo", "requests", "since", "snapshot", "task")

    def __init__(
        self,
        snapshot: MarketSnapshot,
        generation: int,
        requests: list[QuoteRequest],
        since: float,
    ) -> None:
        self.snapshot = snapshot
        self.generation = generation
        self.requests = requests
        self.since = since
        self.memo: OrderedDict[QuoteRequest, Found] = OrderedDict()
        self.done = False
        self.task: asyncio.Task[None] | None = None


class RouteMemo:
    """The current snapshot and its memoized routes (see the module docstring)."""

    def __init__(
        self,
        pricer: Pricer,
        snapshots: SnapshotFeed,
        *,
        size: int = 4096,
        warm_s: float = 0.15,
        warm_count: int = 64,
    ) -> None:
        self.pricer = pricer
        self.snapshots = snapshots
        self.size = size
        self.warm_s = warm_s
        self.warm_count = warm_count
        self._snapshot: MarketSnapshot | None = None
        self._source_generation = -1
        self._memo: OrderedDict[QuoteRequest, Found] = OrderedDict()
        self._next: _Warming | None = None
        self.generation = 0
        """Bumped whenever another snapshot becomes current."""
        self.hits = 0
        self.warmed = 0

    # -- the current snapshot -------------------------------------------------------

    def current(self) -> MarketSnapshot:
        """The snapshot quotes are made on now (switching to a newer one when it is due)."""
        newest = self.snapshots.current()
        generation = self.snapshots.generation
        if generation == self._source_generation and self._snapshot is not None:
            return self._snapshot
        if self._snapshot is None or not self._memo or self.warm_s <= 0 or not self.size:
            self._switch(newest, generation, OrderedDict())
            return newest
        warming = self._next
        if warming is None or warming.generation != generation:
            since = _clock() if warming is None else warming.since
            warming = self._start(newest, generation, since)
            if warming is None:
                self._switch(newest, generation, OrderedDict())
                return newest
        if warming.done or _clock() - warming.since >= self.warm_s:
            self._switch(warming.snapshot, warming.generation, warming.memo)
        assert self._snapshot is not None
        return self._snapshot

    def memoized(self, request: QuoteRequest) -> Found | None:
        """What the current snapshot's memo holds for ``request``, if anything."""
        return self._memo.get(request)

    def route(self, snapshot: MarketSnapshot, request: QuoteRequest) -> Found:
        """The route (or the error) for ``request`` on ``snapshot``, memoized if it is current."""
        if snapshot is not self._snapshot or not self.size:
            return self._price(snapshot, request)
        found = self._memo.get(request)
        if found is not None:
            self.hits += 1
            self._memo.move_to_end(request)
            return found
        found = self._price(snapshot, request)
        self._memo[request] = found
        while len(self._memo) > self.size:
            self._memo.popitem(last=False)
        return found

    async def close(self) -> None:
        warming, self._next = self._next, None
        if warming is not None and warming.task is not None:
            warming.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warming.task

    # -- internals ------------------------------------------------------------------

    def _price(self, snapshot: MarketSnapshot, request: QuoteRequest) -> Found:
        try:
            return self.pricer.quote(snapshot, request)
        except AggregatorError as exc:
            return exc

    def _switch(
        self,
        snapshot: MarketSnapshot,
        generation: int,
        memo: OrderedDict[QuoteRequest, Found],
    ) -> None:
        warming, self._next = self._next, None
        if warming is not None and warming.task is not None:
            warming.task.cancel()
        self._snapshot = snapshot
        self._source_generation = generation
        self._memo = memo
        self.generation += 1

    def _start(self, snapshot: MarketSnapshot, generation: int, since: float) -> _Warming | None:
        """Price the hottest requests on ``snapshot`` in the background (None: no event loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        previous = self._next
        if previous is not None and previous.task is not None:
            previous.task.cancel()
        hottest = list(self._memo)[-self.warm_count :]
        hottest.reverse()
        warming = self._next = _Warming(snapshot, generation, hottest, since)
        warming.task = loop.create_task(self._warm(warming), name="route-warming")
        return warming

    async def _warm(self, warming: _Warming) -> None:
        # the routes are spread over most of the window, each followed by a pause of up to
        # _PAUSE_RATIO times its own time, so a request in flight meets about one route
        deadline = warming.since + self.warm_s * _WARM_SHARE
        pause = 0.0
        count = len(warming.requests)
        for k, request in enumerate(warming.requests):
            await asyncio.sleep(pause)  # requests are served between routes
            if self._next is not warming:
                return
            began = _clock()
            warming.memo[request] = self._price(warming.snapshot, request)
            self.warmed += 1
            took = _clock() - began
            left = count - k - 1
            if left:
                spread = (deadline - _clock()) / left - took
                pause = max(0.0, min(_PAUSE_RATIO * took, spread))
        warming.done = True
