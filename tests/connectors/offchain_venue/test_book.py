"""The fast level book against a naive model, and its undo log against recorded states."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.offchain_venue.book import LevelBook
from connectors.offchain_venue.convert import MarketSpec

levels = st.lists(st.tuples(st.integers(1, 60), st.integers(0, 5)), max_size=8)
diffs = st.lists(st.tuples(levels, levels), max_size=40)


def _naive(side: dict[int, int], changes: list[tuple[int, int]]) -> None:
    for price, size in changes:
        if size:
            side[price] = size
        else:
            side.pop(price, None)


@settings(max_examples=150, deadline=None)
@given(st.tuples(levels, levels), diffs, st.integers(1, 50))
def test_level_book_matches_a_naive_model_and_rebuilds_past_states(
    specs: dict[str, MarketSpec],
    start: tuple[list[tuple[int, int]], list[tuple[int, int]]],
    stream: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]],
    history: int,
) -> None:
    spec = specs["WETHUSDC"]
    book = LevelBook(spec, history=history)
    book.load(start[0], start[1], sequence=10, ts_event=1, ts_recv=1)
    bids = {p: s for p, s in start[0] if s}
    asks = {p: s for p, s in start[1] if s}
    expected = {10: (sorted(bids.items(), reverse=True), sorted(asks.items()))}
    sequence = 10
    for n, (bid_changes, ask_changes) in enumerate(stream):
        sequence += 1 + n % 3
        book.apply(bid_changes, ask_changes, sequence, ts_event=sequence, ts_recv=sequence)
        _naive(bids, bid_changes)
        _naive(asks, ask_changes)
        expected[sequence] = (sorted(bids.items(), reverse=True), sorted(asks.items()))
        assert book.bids.top(1000) == expected[sequence][0]
        assert book.asks.top(1000) == expected[sequence][1]
        best_bid = max(bids, default=None)
        best_ask = min(asks, default=None)
        assert book.bids.best() == best_bid and book.asks.best() == best_ask
    reachable = sorted(expected)[-(history + 1) :]
    for seq, (want_bids, want_asks) in expected.items():
        view = book.at(seq)
        if seq not in reachable:
            assert view is None
            continue
        assert view is not None and view.sequence == seq
        assert [(int(lvl.price * 100), lvl.size) for lvl in view.bids] == want_bids
        assert [(int(lvl.price * 100), lvl.size) for lvl in view.asks] == want_asks
        assert view.ts_event == (seq if seq != 10 else 1)


def test_view_is_built_once_per_sequence(specs: dict[str, MarketSpec]) -> None:
    book = LevelBook(specs["WETHUSDC"], depth=2)
    book.load([(5, 1), (4, 2), (3, 3)], [(6, 1)], sequence=1, ts_event=0, ts_recv=0)
    first = book.view()
    assert book.view() is first
    assert len(first.bids) == 2
    book.apply([(4, 0)], [], 2, 0, 0)
    second = book.view()
    assert second is not first and second.sequence == 2
    assert [lvl.size for lvl in second.bids] == [1, 3]
