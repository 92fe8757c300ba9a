"""Exact integer legs against the models' own formulas, joint fills, and the backward search."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.models import AmmCurve, BookLevel, OrderBook, Side
from aggregator.router.exact import (
    ExactAmm,
    ExactBook,
    ExactState,
    ExactTransfer,
    fee_off,
    fee_on,
)
from aggregator.router.execution import integer_split, run_backward, run_forward

SIDES = st.sampled_from([Side.SELL_BASE, Side.BUY_BASE])


@st.composite
def books(draw: st.DrawFn) -> OrderBook:
    n = draw(st.integers(1, 12))
    mid = Decimal(draw(st.integers(1_000, 400_000))) / 100
    bid_steps = draw(st.lists(st.integers(1, 50), min_size=n, max_size=n))
    ask_steps = draw(st.lists(st.integers(1, 50), min_size=n, max_size=n))
    sizes = st.integers(1, 10**20)
    bids, asks, p_bid, p_ask = [], [], mid, mid
    for k in range(n):
        p_bid -= Decimal(bid_steps[k]) / 1000
        p_ask += Decimal(ask_steps[k]) / 1000
        if p_bid > 0:
            bids.append(BookLevel(p_bid, draw(sizes)))
        asks.append(BookLevel(p_ask, draw(sizes)))
    lot = draw(st.sampled_from([1, 1, 7, 10**12]))
    return OrderBook(
        market_id="m",
        bids=tuple(bids),
        asks=tuple(asks),
        base_decimals=18,
        quote_decimals=6,
        lot_size=lot,
        fee_bps=draw(st.sampled_from([0, 1, 10, 30])),
        sequence=1,
        ts_event=1,
        ts_recv=1,
    )


def _exact_book(book: OrderBook, side: Side) -> ExactBook:
    sell = side is Side.SELL_BASE
    levels = []
    for price, size in book.bids if sell else book.asks:
        num, den = price.as_integer_ratio()
        levels.append((num * 10**book.quote_decimals, den * 10**book.base_decimals, size))
    return ExactBook("m", sell, levels, book.lot_size, book.fee_bps, 0)


def _part(amount: int, fraction: float) -> int:
    """``amount * fraction`` in integers (a float product can round past ``amount``)."""
    return amount * int(fraction * 1_000_000) // 1_000_000


def _depth_in(book: OrderBook, side: Side) -> int:
    if side is Side.SELL_BASE:
        return sum(size for _, size in book.bids)
    return sum(
        -(-size * price.as_integer_ratio()[0] * 10**6 // (price.as_integer_ratio()[1] * 10**18))
        for price, size in book.asks
    )


@settings(max_examples=150, deadline=None)
@given(books(), SIDES, st.floats(0.0, 1.0))
def test_book_fill_equals_the_model(book: OrderBook, side: Side, fraction: float) -> None:
    amount = _part(_depth_in(book, side), fraction)
    hop = _exact_book(book, side)
    assert hop.fwd(amount, ExactState({})) == book.amount_out(amount, side)
    depth = _depth_in(book, side)
    beyond = (depth // book.lot_size + 1) * book.lot_size if side is Side.SELL_BASE else depth + 1
    assert hop.fwd(beyond, ExactState({})) is None, "beyond the book"


@settings(max_examples=150, deadline=None)
@given(books(), SIDES, st.floats(0.01, 0.99), st.floats(0.0, 1.0))
def test_two_book_fills_pay_what_the_rebuilt_book_pays(
    book: OrderBook, side: Side, first: float, second: float
) -> None:
    depth = _depth_in(book, side)
    a = _part(depth, first)
    b = _part(depth - a, second)
    hop = _exact_book(book, side)
    state = ExactState({})
    hop.fwd(a, state)
    # the second fill sees the book as the first left it
    zero_fee = OrderBook.trusted(**{**dict(book), "fee_bps": 0})
    consumed = a - a % book.lot_size if side is Side.SELL_BASE else zero_fee.amount_out(a, side)
    levels = book.bids if side is Side.SELL_BASE else book.asks
    left = []
    for price, size in levels:
        take = min(size, consumed)
        consumed -= take
        if size > take:
            left.append(BookLevel(price, size - take))
    rest = OrderBook.trusted(
        **{**dict(book), "bids" if side is Side.SELL_BASE else "asks": tuple(left)}
    )
    assert hop.fwd(b, state) == rest.amount_out(b, side)


@settings(max_examples=150, deadline=None)
@given(books(), SIDES, st.floats(0.0, 0.95))
def test_book_backward_is_the_least_sufficient_input(
    book: OrderBook, side: Side, fraction: float
) -> None:
    hop = _exact_book(book, side)
    state = ExactState({})
    full = hop.fwd(_depth_in(book, side), ExactState({}))
    assert full is not None
    want = _part(full, fraction)
    need = hop.bwd(want, state)
    assert need is not None
    out = hop.fwd(need, state, commit=False)
    assert out is not None and out >= want
    if need > 0:
        below = hop.fwd(need - 1, state, commit=False)
        assert below is None or below < want


pools = st.builds(
    lambda rb, rq, fee: AmmCurve(
        market_id="p",
        pool="0x" + "1" * 40,
        reserve_base=rb,
        reserve_quote=rq,
        fee_bps=fee,
        base_decimals=18,
        quote_decimals=6,
        sequence=1,
        ts_event=1,
        ts_recv=1,
    ),
    st.integers(10**15, 10**26),
    st.integers(10**6, 10**14),
    st.sampled_from([0, 5, 30, 100]),
)


@settings(max_examples=200, deadline=None)
@given(pools, SIDES, st.integers(1, 10**27), st.integers(1, 10**27))
def test_pool_fills_follow_uniswap_v2_reserves(curve: AmmCurve, side: Side, a: int, b: int) -> None:
    hop = ExactAmm(
        "p", side is Side.SELL_BASE, curve.reserve_base, curve.reserve_quote, curve.fee_bps, 0
    )
    state = ExactState({})
    out_a = hop.fwd(a, state)
    assert out_a == curve.amount_out(a, side)
    if side is Side.SELL_BASE:
        after = curve.model_copy(
            update={
                "reserve_base": curve.reserve_base + a,
                "reserve_quote": curve.reserve_quote - out_a,
            }
        )
    else:
        after = curve.model_copy(
            update={
                "reserve_base": curve.reserve_base - out_a,
                "reserve_quote": curve.reserve_quote + a,
            }
        )
    assert hop.fwd(b, state) == after.amount_out(b, side)


@settings(max_examples=200, deadline=None)
@given(pools, SIDES, st.floats(0.0, 0.999))
def test_pool_backward_matches_get_amount_in(curve: AmmCurve, side: Side, fraction: float) -> None:
    hop = ExactAmm(
        "p", side is Side.SELL_BASE, curve.reserve_base, curve.reserve_quote, curve.fee_bps, 0
    )
    r_out = curve.reserve_quote if side is Side.SELL_BASE else curve.reserve_base
    want = int(r_out * fraction)
    need = hop.bwd(want, ExactState({}))
    assert need is not None
    assert need <= (curve.amount_in(want, side) or 0)
    assert curve.amount_out(need, side) >= want
    assert need == 0 or curve.amount_out(need - 1, side) < want


@given(st.integers(0, 10**30), st.integers(0, 9_999))
def test_fee_on_inverts_fee_off(net: int, bps: int) -> None:
    gross = fee_on(net, bps)
    assert fee_off(gross, bps) >= net
    assert gross == 0 or fee_off(gross - 1, bps) < net


@given(st.integers(0, 10**30), st.lists(st.floats(0.0, 1e6), min_size=1, max_size=8))
def test_integer_split_is_exact(total: int, weights: list[float]) -> None:
    parts = integer_split(total, weights)
    if sum(w for w in weights if w > 0) > 0:
        assert sum(parts) == total
        assert all(p == 0 for p, w in zip(parts, weights, strict=True) if w <= 0)
    assert all(p >= 0 for p in parts)


def test_shared_inventory_bounds_every_path_landing_there() -> None:
    caps = {"WETH@beta": 1_000}
    hop = ExactTransfer("WETH@beta", 0)
    run = run_forward([[hop], [hop]], [600, 400], caps)
    assert run.ok and run.outputs() == [600, 400]
    run = run_forward([[hop], [hop]], [600, 401], caps)
    assert not run.ok and run.failed == 1
    back = run_backward([[hop], [hop]], [600, 401], caps)
    assert not back.ok and back.failed == 1


def test_joint_pool_fills_run_in_path_order() -> None:
    pool = ExactAmm("p", True, 10**21, 3 * 10**12, 30, 0)
    alone = run_forward([[pool]], [10**20], {})
    both = run_forward([[pool], [pool]], [10**20, 10**20], {})
    assert both.outputs()[0] == alone.outputs()[0]
    assert both.outputs()[1] < both.outputs()[0]
