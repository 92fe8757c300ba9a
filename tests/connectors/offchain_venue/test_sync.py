"""Book sync fed with the recorded snapshot and diff stream (overlap, gap, resync)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.offchain_venue.convert import MarketSpec
from connectors.offchain_venue.schemas import CombinedDepthMessage, DepthSnapshot, DepthUpdate
from connectors.offchain_venue.sync import (
    BookSynchronizer,
    Diff,
    QuarantineReason,
    SyncOutcome,
    SyncState,
)

from .conftest import diff_frames, resource_text


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


def _updates() -> list[DepthUpdate]:
    return [CombinedDepthMessage.model_validate_json(f).data for f in diff_frames()]


def _snapshot(name: str) -> DepthSnapshot:
    return DepthSnapshot.model_validate_json(resource_text(name))


def _diff(spec: MarketSpec, data: DepthUpdate) -> Diff:
    return Diff(data.U, data.u, spec.levels(data.b), spec.levels(data.a), data.E * 10**6, 0)


def _load(sync: BookSynchronizer, spec: MarketSpec, snapshot: DepthSnapshot) -> SyncOutcome:
    return sync.on_snapshot(
        snapshot.lastUpdateId, spec.levels(snapshot.bids), spec.levels(snapshot.asks), 0
    )


def _reference(
    snapshot: DepthSnapshot, updates: list[DepthUpdate]
) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    """Binance's procedure, naively, over Decimals: the book the synchronizer must reach."""
    sides = [
        {Decimal(p): Decimal(q) for p, q in snapshot.bids},
        {Decimal(p): Decimal(q) for p, q in snapshot.asks},
    ]
    for update in updates:
        if update.u <= snapshot.lastUpdateId:
            continue
        for side, levels in zip(sides, (update.b, update.a), strict=True):
            for p, q in levels:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
    return sorted(sides[0].items(), reverse=True), sorted(sides[1].items())


def _as_decimals(sync: BookSynchronizer) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    book = sync.view()
    assert book is not None
    scale = Decimal(10) ** -book.base_decimals
    return tuple(
        [(level.price, Decimal(level.size) * scale) for level in side]
        for side in (book.bids, book.asks)
    )


def test_overlapping_diffs_are_dropped_or_applied_per_the_rules(
    specs: dict[str, MarketSpec],
) -> None:
    spec = specs["WETHUSDC"]
    updates = _updates()
    snapshot = _snapshot("depth_snapshot_wethusdc.json")
    sync = BookSynchronizer(spec)
    before_gap = [u for u in updates if u.u <= 167]
    # The stream is opened first: everything arriving before the snapshot is buffered.
    assert {sync.on_diff(_diff(spec, u)) for u in before_gap[:3]} == {SyncOutcome.BUFFERED}
    assert _load(sync, spec, snapshot) is SyncOutcome.LIVE
    # u <= lastUpdateId was dropped; U <= lastUpdateId+1 <= u was applied over the snapshot.
    assert sync.book.sequence == before_gap[2].u
    for update in before_gap[3:]:
        assert sync.on_diff(_diff(spec, update)) is SyncOutcome.APPLIED
    assert _as_decimals(sync) == _reference(snapshot, before_gap)
    assert sync.state is SyncState.LIVE and sync.reason is None
    # A diff already covered by the book after the first one is an overlap: quarantine.
    assert sync.on_diff(_diff(spec, before_gap[-1])) is SyncOutcome.QUARANTINED
    assert sync.reason is not None and sync.reason.startswith(QuarantineReason.OVERLAP)
    assert sync.view() is None


def test_gap_quarantines_and_a_fresh_snapshot_resyncs_to_the_exact_book(
    specs: dict[str, MarketSpec],
) -> None:
    spec = specs["WETHUSDC"]
    updates = _updates()
    clock = FakeClock()
    sync = BookSynchronizer(spec, clock=clock)
    for update in updates[:3]:
        sync.on_diff(_diff(spec, update))
    assert _load(sync, spec, _snapshot("depth_snapshot_wethusdc.json")) is SyncOutcome.LIVE
    outcomes = [sync.on_diff(_diff(spec, u)) for u in updates[3:]]
    gap_at = next(i for i, u in enumerate(updates) if i and u.U > updates[i - 1].u + 1)
    assert outcomes[: gap_at - 3] == [SyncOutcome.APPLIED] * (gap_at - 3)
    assert outcomes[gap_at - 3] is SyncOutcome.QUARANTINED
    assert set(outcomes[gap_at - 2 :]) == {SyncOutcome.BUFFERED}
    metrics = sync.metrics()
    assert metrics.state is SyncState.SYNCING and metrics.quarantines == 1
    assert metrics.reason is not None and metrics.reason.startswith(QuarantineReason.GAP)
    assert f"U={updates[gap_at].U}" in metrics.reason
    clock.now += 250_000_000
    resync = _snapshot("depth_snapshot_wethusdc_resync.json")
    assert _load(sync, spec, resync) is SyncOutcome.LIVE
    assert sync.book.sequence == updates[-1].u
    assert _as_decimals(sync) == _reference(resync, updates[gap_at:])
    metrics = sync.metrics()
    assert metrics.resyncs == 1 and metrics.last_resync_ns == 250_000_000
    assert metrics.reason is None and metrics.last_reason is not None


def test_snapshot_older_than_the_buffer_is_refused(specs: dict[str, MarketSpec]) -> None:
    spec = specs["WETHUSDC"]
    updates = _updates()
    sync = BookSynchronizer(spec)
    after_gap = [u for u in updates if u.U > 170]
    for update in after_gap:
        sync.on_diff(_diff(spec, update))
    outcome = _load(sync, spec, _snapshot("depth_snapshot_wethusdc.json"))
    assert outcome is SyncOutcome.SNAPSHOT_TOO_OLD
    assert sync.state is SyncState.SYNCING
    assert _load(sync, spec, _snapshot("depth_snapshot_wethusdc_resync.json")) is SyncOutcome.LIVE


def test_first_diff_after_snapshot_must_reach_it(specs: dict[str, MarketSpec]) -> None:
    spec = specs["WETHUSDC"]
    updates = _updates()
    sync = BookSynchronizer(spec)
    assert _load(sync, spec, _snapshot("depth_snapshot_wethusdc.json")) is SyncOutcome.LIVE
    late = next(u for u in updates if u.U > 161)
    assert sync.on_diff(_diff(spec, late)) is SyncOutcome.QUARANTINED
    assert sync.reason is not None and sync.reason.startswith(QuarantineReason.GAP)


def test_crossed_book_is_quarantined(specs: dict[str, MarketSpec]) -> None:
    spec = specs["WETHUSDC"]
    sync = BookSynchronizer(spec)
    snapshot = _snapshot("depth_snapshot_wethusdc.json")
    assert _load(sync, spec, snapshot) is SyncOutcome.LIVE
    best_ask = spec.levels(snapshot.asks)[0][0]
    crossing = Diff(161, 161, [(best_ask, 10**18)], [], 0, 0)
    assert sync.on_diff(crossing) is SyncOutcome.QUARANTINED
    assert sync.reason is not None and sync.reason.startswith(QuarantineReason.CROSSED)
    assert sync.view() is None


def test_buffer_is_bounded_and_drops_the_oldest(specs: dict[str, MarketSpec]) -> None:
    spec = specs["WETHUSDC"]
    sync = BookSynchronizer(spec, max_buffer=2)
    updates = [u for u in _updates() if u.u > 160]
    for update in updates:
        sync.on_diff(_diff(spec, update))
    # Only the last two diffs remain, so the first snapshot no longer connects to them.
    snapshot = _snapshot("depth_snapshot_wethusdc.json")
    assert _load(sync, spec, snapshot) is SyncOutcome.SNAPSHOT_TOO_OLD


@pytest.mark.parametrize("history", [0, 64])
def test_history_rebuilds_every_reachable_state(specs: dict[str, MarketSpec], history: int) -> None:
    spec = specs["WETHUSDC"]
    updates = _updates()
    snapshot = _snapshot("depth_snapshot_wethusdc.json")
    sync = BookSynchronizer(spec, history=history)
    for update in updates[:3]:
        sync.on_diff(_diff(spec, update))
    _load(sync, spec, snapshot)
    applied = [u for u in updates[3:] if u.u <= 167]
    states = {sync.book.sequence: sync.view()}
    for update in applied:
        sync.on_diff(_diff(spec, update))
        states[sync.book.sequence] = sync.view()
    for sequence, book in states.items():
        rebuilt = sync.book.at(sequence)
        if history == 0 and sequence != sync.book.sequence:
            assert rebuilt is None
            continue
        assert rebuilt is not None and book is not None
        assert (rebuilt.bids, rebuilt.asks, rebuilt.sequence) == (book.bids, book.asks, sequence)
    # Inside a diff's range, or before the snapshot, nothing can be rebuilt.
    assert sync.book.at(updates[4].U + 1) is None
    assert sync.book.at(snapshot.lastUpdateId - 1) is None


def test_resync_never_goes_back_in_time_on_one_connection(specs: dict[str, MarketSpec]) -> None:
    spec = specs["WETHUSDC"]
    sync = BookSynchronizer(spec)
    assert _load(sync, spec, _snapshot("depth_snapshot_wethusdc_resync.json")) is SyncOutcome.LIVE
    shown = sync.book.sequence
    sync.quarantine(QuarantineReason.MALFORMED, "unreadable diff")
    older = _snapshot("depth_snapshot_wethusdc.json")
    assert older.lastUpdateId < shown
    assert _load(sync, spec, older) is SyncOutcome.SNAPSHOT_TOO_OLD
    # A new connection may reach a restarted venue: then an older id is accepted.
    sync.quarantine(QuarantineReason.DISCONNECTED, "closed by the venue")
    assert _load(sync, spec, older) is SyncOutcome.LIVE
    assert sync.book.sequence == older.lastUpdateId
