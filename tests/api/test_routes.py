"""The route memo: routes memoized per current snapshot, and a newer snapshot made current
only once the hot requests are priced on it (or its time is up)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

from aggregator.errors import NoLiquidityError
from aggregator.market.snapshot import MarketSnapshot
from aggregator.models.quote import Quote, QuoteRequest
from aggregator.service import routes
from aggregator.service.routes import RouteMemo


class Feed:
    """Snapshots numbered by generation (stand-ins: only their identity matters here)."""

    def __init__(self) -> None:
        self.generation = 1
        self.snapshots = {1: cast(MarketSnapshot, object())}

    def current(self) -> MarketSnapshot:
        return self.snapshots[self.generation]

    def advance(self) -> MarketSnapshot:
        self.generation += 1
        self.snapshots[self.generation] = cast(MarketSnapshot, object())
        return self.snapshots[self.generation]


class Pricer:
    """Records every (snapshot, request) it prices; requests named "none" have no route."""

    def __init__(self) -> None:
        self.priced: list[tuple[MarketSnapshot, Any]] = []

    def quote(self, snapshot: MarketSnapshot, request: QuoteRequest) -> Quote:
        self.priced.append((snapshot, request))
        if cast(Any, request) == "none":
            raise NoLiquidityError("no route", pair="none")
        return cast(Quote, _route(snapshot, request))


def _route(snapshot: MarketSnapshot, request: QuoteRequest) -> Any:
    return ("route", id(snapshot), request)


def _requests(*names: str) -> list[QuoteRequest]:
    return [cast(QuoteRequest, name) for name in names]


async def test_routes_are_priced_once_per_current_snapshot_errors_included() -> None:
    feed, pricer = Feed(), Pricer()
    memo = RouteMemo(pricer, feed, warm_s=0.0)
    a, none = _requests("a", "none")
    snapshot = memo.current()
    first = memo.route(snapshot, a)
    assert memo.route(snapshot, a) is first
    assert isinstance(memo.route(snapshot, none), NoLiquidityError)
    assert isinstance(memo.route(snapshot, none), NoLiquidityError)
    assert len(pricer.priced) == 2 and memo.hits == 2
    newer = feed.advance()
    assert memo.current() is newer  # no warm-up asked for: current at once
    assert memo.route(newer, a) != first
    assert pricer.priced[-1] == (newer, a)


async def test_a_newer_snapshot_becomes_current_once_the_hot_requests_are_priced_on_it() -> None:
    feed, pricer = Feed(), Pricer()
    memo = RouteMemo(pricer, feed, warm_s=5.0)
    hot = _requests("a", "b", "c")
    old = memo.current()
    for request in hot:
        memo.route(old, request)
    generation = memo.generation
    newer = feed.advance()
    assert memo.current() is old  # still pricing the hot requests on the newer one
    for _ in range(20):
        await asyncio.sleep(0)
    assert memo.current() is newer
    assert memo.generation == generation + 1
    assert {r for s, r in pricer.priced if s is newer} == set(hot)
    priced = len(pricer.priced)
    for request in hot:  # answered from what was priced ahead
        assert memo.route(newer, request) == _route(newer, request)
    assert len(pricer.priced) == priced
    # a quote still being made on the older snapshot is priced on it, never memoized
    assert memo.route(old, hot[0]) == _route(old, hot[0])
    assert memo.memoized(hot[0]) == _route(newer, hot[0])


def _on_a_clock(
    monkeypatch: pytest.MonkeyPatch, hot: str
) -> tuple[list[float], Feed, Pricer, RouteMemo, MarketSnapshot]:
    """A memo with a 0.05 s warm-up on a clock the test moves, ``hot`` priced on its
    current snapshot: (clock, feed, pricer, memo, that snapshot)."""
    now = [100.0]
    monkeypatch.setattr(routes, "_clock", lambda: now[0])
    feed, pricer = Feed(), Pricer()
    memo = RouteMemo(pricer, feed, warm_s=0.05)
    old = memo.current()
    for request in _requests(*hot):
        memo.route(old, request)
    return now, feed, pricer, memo, old


async def test_a_newer_snapshot_is_current_when_its_time_is_up_even_if_nothing_is_priced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now, feed, pricer, memo, old = _on_a_clock(monkeypatch, "abcdefgh")
    newer = feed.advance()
    assert memo.current() is old
    now[0] += 0.051
    assert memo.current() is newer  # before any hot request was priced on it
    assert [s for s, _ in pricer.priced if s is newer] == []
    b = _requests("b")[0]
    assert memo.route(newer, b) == _route(newer, b)  # priced when asked
    await memo.close()


async def test_an_even_newer_snapshot_keeps_the_first_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now, feed, _, memo, old = _on_a_clock(monkeypatch, "abc")
    feed.advance()
    assert memo.current() is old
    now[0] += 0.03
    newest = feed.advance()
    assert memo.current() is old
    now[0] += 0.021  # past 0.05 after the first newer snapshot, 0.021 after the newest
    assert memo.current() is newest
    await memo.close()


class SlowPricer(Pricer):
    """A pricer that holds the event loop for ``busy_s`` per route, as routing does."""

    def __init__(self, busy_s: float) -> None:
        super().__init__()
        self.busy_s = busy_s
        self.at: list[tuple[float, float]] = []

    def quote(self, snapshot: MarketSnapshot, request: QuoteRequest) -> Quote:
        began = time.monotonic()
        while time.monotonic() - began < self.busy_s:
            pass
        self.at.append((began, time.monotonic()))
        return super().quote(snapshot, request)


async def test_routes_priced_ahead_leave_the_event_loop_free_between_them() -> None:
    feed, pricer = Feed(), SlowPricer(busy_s=0.004)
    memo = RouteMemo(pricer, feed, warm_s=0.5)
    hot = _requests(*"abcdef")
    old = memo.current()
    for request in hot:
        memo.route(old, request)
    pricer.at.clear()
    began = time.monotonic()
    newer = feed.advance()
    assert memo.current() is old
    for _ in range(2_000):
        if memo.current() is newer:
            break
        await asyncio.sleep(0.001)
    assert time.monotonic() - began < 0.5  # done before the window closed
    assert len(pricer.at) == len(hot)
    # after each route a pause of about its own time or more, never a run of routes
    gaps = [b[0] - a[1] for a, b in zip(pricer.at, pricer.at[1:], strict=False)]
    assert min(gaps) >= 0.004
    await memo.close()
