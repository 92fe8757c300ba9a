"""Keeping one market's book in sync with the venue: snapshot plus diffs, the documented way.

The synchronizer is pure state (no I/O); the connector feeds it stream diffs and REST
snapshots and acts on what it answers:

1. While SYNCING (at start, after a disconnect, after a fault) every diff is buffered.
2. A snapshot with ``lastUpdateId`` arrives: buffered diffs with ``u <= lastUpdateId`` are
   dropped; the first one left must satisfy ``U <= lastUpdateId + 1 <= u`` (it may
   overlap the snapshot: its quantities are new totals, so re-applying the overlapping
   part is harmless). If it starts later, the snapshot is too old: fetch another. A
   snapshot older than a state the book already showed on this connection is too old as
   well, so a resync never takes a published book back in time.
3. LIVE: each diff must start right after the previous one, ``U == previous u + 1``.
   Anything else is a gap (``U`` too high: updates were missed) or an overlap (``U`` too
   low: the stream repeated itself); either QUARANTINES the market and starts over at 1,
   keeping the offending diff in the buffer. A crossed book quarantines it too.

While a market is quarantined its book is not published, and the reason is reported.
The time from quarantine to LIVE again is measured (monotonic clock) as the resync
duration.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import NamedTuple

from aggregator.models import OrderBook
from connectors.offchain_venue.book import LevelBook
from connectors.offchain_venue.convert import MarketSpec

__all__ = [
    "BookSynchronizer",
    "Diff",
    "QuarantineReason",
    "SyncMetrics",
    "SyncOutcome",
    "SyncState",
]

Levels = list[tuple[int, int]]


class SyncState(StrEnum):
    SYNCING = "syncing"
    """Buffering diffs until a usable snapshot arrives."""
    LIVE = "live"
    """The book follows the stream."""


class QuarantineReason(StrEnum):
    """Why a market was taken out of routing (the code; the detail says more)."""

    STARTING = "starting"
    GAP = "gap"
    OVERLAP = "overlap"
    CROSSED = "crossed"
    DISCONNECTED = "disconnected"
    MALFORMED = "malformed"
    BUFFER_OVERFLOW = "buffer_overflow"


class SyncOutcome(Enum):
    APPLIED = "applied"
    """The book changed: publish it."""
    BUFFERED = "buffered"
    """Kept for after the next snapshot."""
    IGNORED = "ignored"
    """Already covered by the book (``u`` not above its update id)."""
    QUARANTINED = "quarantined"
    """The market just went out of sync: fetch a snapshot."""
    LIVE = "live"
    """A snapshot was accepted and the buffer replayed: publish the book."""
    SNAPSHOT_TOO_OLD = "snapshot_too_old"
    """The snapshot predates the buffered diffs: fetch a newer one."""


class Diff(NamedTuple):
    """A parsed depth diff: update ids ``first..last`` and level totals as integers."""

    first: int
    last: int
    bids: Levels
    asks: Levels
    ts_event: int
    ts_recv: int


@dataclass(frozen=True, slots=True)
class SyncMetrics:
    """Counters and timings of one market's synchronization."""

    market_id: str
    state: SyncState
    sequence: int
    reason: str | None
    """The current quarantine reason (None when LIVE)."""
    last_reason: str | None
    """The reason of the most recent quarantine, kept after it is over."""
    quarantines: int
    resyncs: int
    """Quarantines that ended with the market LIVE again."""
    last_resync_ns: int | None
    """Duration of the last resync, quarantine to LIVE, monotonic nanoseconds."""
    max_resync_ns: int | None
    initial_sync_ns: int | None
    diffs_applied: int
    snapshots: int


class BookSynchronizer:
    """One market's book, its sync state, the diff buffer and the metrics."""

    def __init__(
        self,
        spec: MarketSpec,
        *,
        depth: int | None = None,
        history: int = 0,
        max_buffer: int = 10_000,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.spec = spec
        self.book = LevelBook(spec, depth=depth, history=history)
        self.state = SyncState.SYNCING
        self._clock = clock
        self._buffer: deque[Diff] = deque()
        self._max_buffer = max_buffer
        self._first_after_snapshot = False
        self._reason: str | None = f"{QuarantineReason.STARTING}: waiting for the first snapshot"
        self._last_reason: str | None = None
        self._since = clock()
        self._initial = True
        self._quarantines = 0
        self._resyncs = 0
        self._last_resync: int | None = None
        self._max_resync: int | None = None
        self._initial_sync: int | None = None
        self._applied = 0
        self._high_water = 0
        """Highest update id the book has shown on this connection; no snapshot goes back."""
        self._snapshots = 0

    @property
    def market_id(self) -> str:
        return self.spec.market.id

    @property
    def live(self) -> bool:
        return self.state is SyncState.LIVE

    @property
    def reason(self) -> str | None:
        return self._reason

    @property
    def synced_once(self) -> bool:
        """True once the first snapshot was accepted."""
        return not self._initial

    def view(self) -> OrderBook | None:
        """The published book, or None while the market is not LIVE."""
        return self.book.view() if self.state is SyncState.LIVE else None

    def quarantine(self, code: QuarantineReason, detail: str, *, keep: Diff | None = None) -> None:
        """Take the market out of sync; the buffer restarts (with ``keep`` if given).

        A market already SYNCING only gets the new reason: its resync is still the same one.
        """
        self._buffer.clear()
        if keep is not None:
            self._buffer.append(keep)
        self._reason = f"{code}: {detail}"
        self._last_reason = self._reason
        self._first_after_snapshot = False
        if code is QuarantineReason.DISCONNECTED:
            # A new connection may reach a restarted venue whose update ids start over.
            self._high_water = 0
        if self.state is SyncState.SYNCING:
            return
        self.state = SyncState.SYNCING
        self._quarantines += 1
        self._since = self._clock()

    def on_diff(self, diff: Diff) -> SyncOutcome:
        if self.state is SyncState.SYNCING:
            buffer = self._buffer
            if len(buffer) >= self._max_buffer:
                buffer.popleft()
            buffer.append(diff)
            return SyncOutcome.BUFFERED
        return self._apply(diff)

    def _apply(self, diff: Diff) -> SyncOutcome:
        book = self.book
        expected = book.sequence + 1
        if self._first_after_snapshot:
            if diff.last < expected:
                return SyncOutcome.IGNORED
            if diff.first > expected:
                self.quarantine(
                    QuarantineReason.GAP,
                    f"first diff after the snapshot starts at U={diff.first}, "
                    f"expected U<={expected}",
                    keep=diff,
                )
                return SyncOutcome.QUARANTINED
            self._first_after_snapshot = False
        elif diff.first != expected:
            code = QuarantineReason.GAP if diff.first > expected else QuarantineReason.OVERLAP
            detail = f"diff U={diff.first} u={diff.last}, expected U={expected}"
            self.quarantine(code, detail, keep=diff)
            return SyncOutcome.QUARANTINED
        book.apply(diff.bids, diff.asks, diff.last, diff.ts_event, diff.ts_recv)
        self._applied += 1
        self._high_water = diff.last
        if book.crossed():
            self.quarantine(QuarantineReason.CROSSED, f"crossed book at update {diff.last}")
            return SyncOutcome.QUARANTINED
        return SyncOutcome.APPLIED

    def on_snapshot(
        self, last_update_id: int, bids: Levels, asks: Levels, ts_recv: int
    ) -> SyncOutcome:
        """Load a snapshot and replay the buffer: LIVE, or what to do next."""
        if self.state is SyncState.LIVE:
            return SyncOutcome.IGNORED
        buffer = self._buffer
        while buffer and buffer[0].last <= last_update_id:
            buffer.popleft()
        if (buffer and buffer[0].first > last_update_id + 1) or last_update_id < self._high_water:
            return SyncOutcome.SNAPSHOT_TOO_OLD
        self._snapshots += 1
        self.book.load(bids, asks, last_update_id, ts_recv, ts_recv)
        if self.book.crossed():
            self.quarantine(QuarantineReason.CROSSED, f"crossed snapshot at {last_update_id}")
            return SyncOutcome.QUARANTINED
        self._first_after_snapshot = True
        pending = list(buffer)
        buffer.clear()
        for index, diff in enumerate(pending):
            if self._apply(diff) is SyncOutcome.QUARANTINED:
                buffer.extend(pending[index + 1 :])
                return SyncOutcome.QUARANTINED
        self.state = SyncState.LIVE
        self._high_water = max(self._high_water, self.book.sequence)
        elapsed = self._clock() - self._since
        if self._initial:
            self._initial = False
            self._initial_sync = elapsed
        else:
            self._resyncs += 1
            self._last_resync = elapsed
            self._max_resync = max(elapsed, self._max_resync or 0)
        self._reason = None
        return SyncOutcome.LIVE

    def metrics(self) -> SyncMetrics:
        return SyncMetrics(
            market_id=self.market_id,
            state=self.state,
            sequence=self.book.sequence,
            reason=self._reason,
            last_reason=self._last_reason,
            quarantines=self._quarantines,
            resyncs=self._resyncs,
            last_resync_ns=self._last_resync,
            max_resync_ns=self._max_resync,
            initial_sync_ns=self._initial_sync,
            diffs_applied=self._applied,
            snapshots=self._snapshots,
        )
