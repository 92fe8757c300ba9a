"""Properties of the matching engine under random order flow from several accounts.

After every operation of a random sequence (limit GTC/IOC, post-only, market by quantity
or by quote amount, cancels, with random self-trade prevention modes and fees):

- each asset's total over all accounts (free + locked, fee account included) is unchanged;
- no balance is negative and every account's locked funds equal what its open orders
  reserve;
- no book is crossed, every level's total is the sum of its orders and each level holds
  its orders oldest first;
- a mirror book built only from the emitted BookUpdates (contiguous update ids) equals
  the engine's depth snapshot;
- the trades of each taker consume resting orders in price-time priority: best price
  first, oldest first within a level, every skipped order being the taker's own (expired
  by self-trade prevention), every order passed over fully filled;
- a rejected order changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.exchange.engine import FeeSchedule, MatchingEngine
from aggregator.exchange.errors import ExchangeError
from aggregator.exchange.orders import (
    BookUpdate,
    Event,
    OrderRequest,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
    TradeEvent,
)
from tests.exchange.specs import E6, E8, E18, new_engine

CENTRES = {"WETHUSDC": 300_000, "WBTCUSDC": 6_000_000, "WBTCWETH": 2_000_000}
RICH = {"USDC": 200_000 * E6, "WETH": 50 * E18, "WBTC": 2 * E8}
POOR = {"USDC": 20 * E6, "WETH": E18 // 100, "WBTC": E8 // 10_000}
ACCOUNTS = ("a", "b", "c", "poor")
KINDS = ("limit", "limit", "limit", "ioc", "maker", "market_qty", "market_quote")


@dataclass
class Mirror:
    """A book rebuilt from BookUpdates only."""

    last: int = 0
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)

    def apply(self, update: BookUpdate) -> None:
        assert update.first_update_id == self.last + 1, "gap in update ids"
        assert update.last_update_id >= update.first_update_id
        self.last = update.last_update_id
        for levels, side in ((update.bids, self.bids), (update.asks, self.asks)):
            for price, total in levels:
                if total:
                    side[price] = total
                else:
                    side.pop(price, None)


class Recorder:
    def __init__(self) -> None:
        self.batches: list[Sequence[Event]] = []

    def __call__(self, events: Sequence[Event]) -> None:
        self.batches.append(list(events))

    def take(self) -> list[Event]:
        out = [e for batch in self.batches for e in batch]
        self.batches.clear()
        return out


def state(engine: MatchingEngine) -> tuple[object, ...]:
    balances = {n: engine.balances(n) for n in (*ACCOUNTS, engine.fee_account)}
    depth = {s.symbol: engine.depth(s.symbol, 10**6) for s in engine.symbols}
    opens = {n: engine.open_orders(n) for n in ACCOUNTS}
    return balances, depth, opens


def check_invariants(
    engine: MatchingEngine, totals: dict[str, int], mirrors: dict[str, Mirror]
) -> None:
    assert engine.ledger.totals() == totals
    locked: dict[str, dict[str, int]] = {n: dict.fromkeys(totals, 0) for n in ACCOUNTS}
    for spec in engine.symbols:
        book = engine.book(spec.symbol)
        assert not book.crossed()
        for side in (book.bids, book.asks):
            assert side.keys == sorted(set(side.keys))
            prices = list(side.prices())
            assert set(prices) == set(side.levels) == set(side.totals)
            for p in prices:
                level = side.levels[p]
                assert level and side.totals[p] == sum(o.remaining for o in level)
                ids = [o.order_id for o in level]
                assert ids == sorted(ids), "a level must hold its orders oldest first"
                for o in level:
                    assert o.price == p and o.is_buy == side.is_bid
                    assert o.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
                    assert o.remaining > 0 and o.remaining % spec.lot_units == 0
                    if o.is_buy:
                        assert o.reserved == spec.quote_units(o.remaining, o.price)
                        locked[o.account][spec.quote] += o.reserved
                    else:
                        assert o.reserved == o.remaining
                        locked[o.account][spec.base] += o.reserved
        depth = engine.depth(spec.symbol, 10**6)
        mirror = mirrors[spec.symbol]
        assert mirror.last == depth.last_update_id == book.update_id
        assert dict(depth.bids) == mirror.bids and dict(depth.asks) == mirror.asks
    for name in (*ACCOUNTS, engine.fee_account):
        for b in engine.balances(name):
            assert b.free >= 0 and b.locked >= 0
            if name in locked:
                assert b.locked == locked[name][b.asset], (name, b.asset)
    open_ids = {o.order_id for n in ACCOUNTS for o in engine.open_orders(n)}
    book_ids = {
        o.order_id
        for spec in engine.symbols
        for side in (engine.book(spec.symbol).bids, engine.book(spec.symbol).asks)
        for o in side.orders()
    }
    assert open_ids == book_ids


def check_priority(
    req: OrderRequest,
    limit: int | None,
    before: list[tuple[int, str, int, int]],
    trades: list[TradeEvent],
    status: OrderStatus,
    opposite_best: int | None,
) -> None:
    """``before``: the opposite side's orders (id, account, remaining, price) in priority."""
    is_buy = req.side is Side.BUY
    position = {oid: i for i, (oid, _, _, _) in enumerate(before)}
    makers = [t.seller_order_id if is_buy else t.buyer_order_id for t in trades]
    assert all(m in position for m in makers), "a fill against an order not in the book"
    idx = [position[m] for m in makers]
    assert idx == sorted(set(idx)), "fills must follow price-time priority"
    filled = {m: t.qty for m, t in zip(makers, trades, strict=True)}
    stp = req.stp or SelfTradePrevention.EXPIRE_MAKER
    for oid, account, remaining, _price in before[: idx[-1] if idx else 0]:
        if oid in filled:
            assert filled[oid] == remaining, "a better or older order was only partly used"
        else:
            assert account == req.account and stp is not SelfTradePrevention.NONE
    for t in trades:
        assert limit is None or (t.price <= limit if is_buy else t.price >= limit)
        if stp is not SelfTradePrevention.NONE:
            assert t.buyer_account != t.seller_account, "self-trade despite prevention"
        assert t.buyer_is_maker is not is_buy
    crossing_left = opposite_best is not None and (
        limit is None or (opposite_best <= limit if is_buy else opposite_best >= limit)
    )
    qty_bounded = req.quote_order_qty is None and req.type is not OrderType.LIMIT_MAKER
    if qty_bounded and status is OrderStatus.EXPIRED:
        assert not crossing_left, "an order expired while matchable liquidity was left"


account_st = st.sampled_from(ACCOUNTS)
# Two markets sharing WETH, one of them busier, so that orders meet often.
symbol_st = st.sampled_from(["WETHUSDC", "WETHUSDC", "WBTCWETH"])
place_st = st.tuples(
    st.just("place"),
    account_st,
    symbol_st,
    st.sampled_from([Side.BUY, Side.SELL]),
    st.sampled_from(KINDS),
    st.integers(-2, 2),
    st.integers(1, 40),
    st.one_of(st.none(), st.sampled_from(list(SelfTradePrevention))),
)
cancel_st = st.tuples(st.just("cancel"), account_st, symbol_st, st.integers(0, 50))
ops_st = st.lists(st.one_of(place_st, place_st, place_st, cancel_st), min_size=5, max_size=80)
fees_st = st.sampled_from([FeeSchedule(), FeeSchedule(maker_bps=2, taker_bps=7)])


def build_request(
    op: tuple[object, ...], engine: MatchingEngine
) -> tuple[OrderRequest, int | None]:
    _, account, symbol, side, kind, offset, lots, stp = op
    assert isinstance(account, str) and isinstance(symbol, str) and isinstance(side, Side)
    assert isinstance(lots, int) and isinstance(offset, int)
    assert stp is None or isinstance(stp, SelfTradePrevention)
    spec = engine.spec(symbol)
    p = CENTRES[symbol] + offset
    qty = lots * spec.lot_units
    if kind == "market_qty":
        return OrderRequest(account, symbol, side, OrderType.MARKET, qty, stp=stp), None
    if kind == "market_quote":
        amount = spec.quote_units(qty, p) + lots * 7
        req = OrderRequest(account, symbol, side, OrderType.MARKET, quote_order_qty=amount, stp=stp)
        return req, None
    order_type = OrderType.LIMIT_MAKER if kind == "maker" else OrderType.LIMIT
    tif = TimeInForce.IOC if kind == "ioc" else TimeInForce.GTC
    return OrderRequest(account, symbol, side, order_type, qty, p, tif, stp=stp), p


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops_st, fees=fees_st, history=st.sampled_from([3, 10_000]))
def test_random_order_flow_keeps_every_invariant(
    ops: list[tuple[object, ...]], fees: FeeSchedule, history: int
) -> None:
    engine = new_engine(fees=fees, history=history, a=RICH, b=RICH, c=RICH, poor=POOR)
    recorder = Recorder()
    engine.subscribe(recorder)
    mirrors = {s.symbol: Mirror() for s in engine.symbols}
    totals = engine.ledger.totals()
    for ts, op in enumerate(ops, start=1):
        if op[0] == "cancel":
            _, account, symbol, pick = op
            assert isinstance(account, str) and isinstance(symbol, str) and isinstance(pick, int)
            opens = engine.open_orders(account, symbol)
            if opens:
                target = opens[pick % len(opens)]
                view = engine.cancel(account, symbol, ts, order_id=target.order_id)
                assert view.status is OrderStatus.CANCELED
                assert engine.order(account, symbol, order_id=target.order_id) == view
        else:
            req, limit = build_request(op, engine)
            book = engine.book(req.symbol)
            opposite = book.asks if req.side is Side.BUY else book.bids
            before = [(o.order_id, o.account, o.remaining, o.price) for o in opposite.orders()]
            prior = state(engine)
            try:
                result = engine.place(req, ts)
            except ExchangeError:
                assert state(engine) == prior, "a rejected order changed the engine"
                assert not recorder.batches
                continue
            events = recorder.take()
            trades = [e for e in events if isinstance(e, TradeEvent)]
            assert [t.trade_id for t in trades] == sorted(t.trade_id for t in trades)
            assert sum(f.qty for f in result.fills) == result.order.executed_qty
            assert sum(f.quote for f in result.fills) == result.order.cumulative_quote
            assert [f.trade_id for f in result.fills] == [t.trade_id for t in trades]
            check_priority(req, limit, before, trades, result.order.status, opposite.best())
            for e in events:
                if isinstance(e, BookUpdate):
                    mirrors[e.symbol].apply(e)
        for e in recorder.take():
            if isinstance(e, BookUpdate):
                mirrors[e.symbol].apply(e)
        check_invariants(engine, totals, mirrors)
