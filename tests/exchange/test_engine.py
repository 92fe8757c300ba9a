"""Focused behaviour of the matching engine, with exact amounts."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from aggregator.exchange.engine import FeeSchedule, MatchingEngine
from aggregator.exchange.errors import (
    BadParameterError,
    CancelRejectedError,
    FilterFailureError,
    InvalidSymbolError,
    NoSuchOrderError,
    OrderRejectedError,
)
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
from tests.exchange.specs import E6, E18, new_engine, price, qty, venue_specs

SPEC = venue_specs()["WETHUSDC"]
SYM = "WETHUSDC"
FUNDS = {"USDC": 100_000 * E6, "WETH": 100 * E18}


def engine_with(
    *names: str, fees: FeeSchedule | None = None, history: int = 10_000
) -> MatchingEngine:
    return new_engine(fees=fees, history=history, **{n: dict(FUNDS) for n in names})


def limit(
    account: str,
    side: Side,
    px: str,
    q: str,
    tif: TimeInForce = TimeInForce.GTC,
    stp: SelfTradePrevention | None = None,
    cid: str | None = None,
) -> OrderRequest:
    return OrderRequest(
        account=account,
        symbol=SYM,
        side=side,
        type=OrderType.LIMIT,
        quantity=qty(SPEC, q),
        price=price(SPEC, px),
        time_in_force=tif,
        stp=stp,
        client_order_id=cid,
    )


def free_locked(engine: MatchingEngine, account: str, asset: str) -> tuple[int, int]:
    (b,) = [b for b in engine.balances(account) if b.asset == asset]
    return b.free, b.locked


def test_quote_units_are_exact_for_every_shipped_market() -> None:
    for spec in venue_specs().values():
        assert spec.quote_units(spec.lot_units, 1) == spec.quote_units_per_lot_tick >= 1
    # 1.5 WETH at 3000.01 USDC is exactly 4500.015 USDC
    assert SPEC.quote_units(qty(SPEC, "1.5"), price(SPEC, "3000.01")) == 4_500_015_000


def test_a_buy_takes_the_best_ask_first_and_gets_its_price_improvement_back() -> None:
    engine = engine_with("maker", "taker")
    engine.place(limit("maker", Side.SELL, "3001.00", "1"), 1)
    engine.place(limit("maker", Side.SELL, "3000.00", "1"), 2)
    result = engine.place(limit("taker", Side.BUY, "3002.00", "1.5"), 3)
    assert [(f.price, f.qty) for f in result.fills] == [
        (price(SPEC, "3000.00"), qty(SPEC, "1")),
        (price(SPEC, "3001.00"), qty(SPEC, "0.5")),
    ]
    assert result.order.status is OrderStatus.FILLED
    spent = 3000 * E6 + 1500 * E6 + 500_000
    assert free_locked(engine, "taker", "USDC") == (FUNDS["USDC"] - spent, 0)
    assert free_locked(engine, "taker", "WETH") == (FUNDS["WETH"] + qty(SPEC, "1.5"), 0)
    assert free_locked(engine, "maker", "USDC") == (FUNDS["USDC"] + spent, 0)
    assert free_locked(engine, "maker", "WETH") == (
        FUNDS["WETH"] - qty(SPEC, "2"),
        qty(SPEC, "0.5"),
    )


def test_orders_at_one_price_fill_oldest_first() -> None:
    engine = engine_with("first", "second", "taker")
    a = engine.place(limit("first", Side.SELL, "3000", "1"), 1).order
    b = engine.place(limit("second", Side.SELL, "3000", "1"), 2).order
    result = engine.place(limit("taker", Side.BUY, "3000", "1.2"), 3)
    assert [f.maker_order_id for f in result.fills] == [a.order_id, b.order_id]
    assert [f.qty for f in result.fills] == [qty(SPEC, "1"), qty(SPEC, "0.2")]
    assert engine.order("second", SYM, order_id=b.order_id).status is OrderStatus.PARTIALLY_FILLED
    assert engine.depth(SYM, 5).asks == [(price(SPEC, "3000"), qty(SPEC, "0.8"))]


def test_a_partly_filled_gtc_order_rests_with_the_exact_reservation() -> None:
    engine = engine_with("maker", "taker")
    engine.place(limit("maker", Side.SELL, "2999.50", "0.3"), 1)
    result = engine.place(limit("taker", Side.BUY, "3000", "1"), 2)
    assert result.order.status is OrderStatus.PARTIALLY_FILLED
    free, locked = free_locked(engine, "taker", "USDC")
    assert locked == 3000 * E6 * 7 // 10  # the rest, 0.7 WETH at its own limit
    assert free == FUNDS["USDC"] - locked - 2999_500_000 * 3 // 10
    assert engine.depth(SYM, 5).bids == [(price(SPEC, "3000"), qty(SPEC, "0.7"))]


def test_ioc_expires_its_rest_and_unlocks_everything() -> None:
    engine = engine_with("maker", "taker")
    engine.place(limit("maker", Side.BUY, "3000", "0.25"), 1)
    result = engine.place(limit("taker", Side.SELL, "2990", "1", tif=TimeInForce.IOC), 2)
    assert result.order.status is OrderStatus.EXPIRED
    assert result.order.executed_qty == qty(SPEC, "0.25")
    assert free_locked(engine, "taker", "WETH") == (FUNDS["WETH"] - qty(SPEC, "0.25"), 0)
    assert free_locked(engine, "taker", "USDC") == (FUNDS["USDC"] + 750 * E6, 0)
    assert engine.depth(SYM, 5).asks == [] and engine.depth(SYM, 5).bids == []


def test_market_buy_by_quote_amount_buys_whole_lots_within_the_budget() -> None:
    engine = engine_with("maker", "taker")
    engine.place(limit("maker", Side.SELL, "3000", "0.1"), 1)
    engine.place(limit("maker", Side.SELL, "3100", "10"), 2)
    req = OrderRequest("taker", SYM, Side.BUY, OrderType.MARKET, quote_order_qty=1000 * E6)
    result = engine.place(req, 3)
    # 0.1 WETH for 300 USDC, then 700 USDC at 3100 buys 0.2258 WETH (699.98 USDC)
    assert [(f.price, f.qty, f.quote) for f in result.fills] == [
        (price(SPEC, "3000"), qty(SPEC, "0.1"), 300 * E6),
        (price(SPEC, "3100"), qty(SPEC, "0.2258"), 699_980_000),
    ]
    assert result.order.status is OrderStatus.FILLED
    assert result.order.orig_qty == result.order.executed_qty == qty(SPEC, "0.3258")
    assert free_locked(engine, "taker", "USDC") == (FUNDS["USDC"] - 999_980_000, 0)


def test_market_sell_by_quote_amount_receives_at_most_that_amount() -> None:
    engine = engine_with("maker", "taker")
    engine.place(limit("maker", Side.BUY, "3000", "1"), 1)
    req = OrderRequest("taker", SYM, Side.SELL, OrderType.MARKET, quote_order_qty=1000 * E6)
    result = engine.place(req, 2)
    assert result.order.executed_qty == qty(SPEC, "0.3333")
    assert result.order.cumulative_quote == 999_900_000
    assert free_locked(engine, "taker", "WETH") == (FUNDS["WETH"] - qty(SPEC, "0.3333"), 0)


def test_market_buy_reserves_only_what_the_book_offers_and_expires_the_rest() -> None:
    engine = engine_with("maker")
    engine.open_account("small", {"USDC": 700 * E6})
    engine.place(limit("maker", Side.SELL, "3000", "0.2"), 1)
    req = OrderRequest("small", SYM, Side.BUY, OrderType.MARKET, quantity=qty(SPEC, "1"))
    result = engine.place(req, 2)
    assert result.order.status is OrderStatus.EXPIRED
    assert result.order.executed_qty == qty(SPEC, "0.2")
    assert free_locked(engine, "small", "USDC") == (100 * E6, 0)
    engine.place(limit("maker", Side.SELL, "3000", "1"), 3)
    with pytest.raises(OrderRejectedError) as info:
        engine.place(req, 4)
    assert info.value.venue_code == -2010


def test_fees_go_to_the_fee_account_rounded_up_and_totals_are_conserved() -> None:
    engine = engine_with("maker", "taker", fees=FeeSchedule(maker_bps=1, taker_bps=3))
    totals = engine.ledger.totals()
    engine.place(limit("maker", Side.SELL, "3000.01", "0.0007"), 1)
    result = engine.place(limit("taker", Side.BUY, "3000.01", "0.0007"), 2)
    (fill,) = result.fills
    # taker receives 0.0007 WETH: 3 bps is 2.1e11 wei exactly
    assert (fill.commission, fill.commission_asset) == (210_000_000_000, "WETH")
    # maker receives 2.100007 USDC: 1 bp is 210.0007 units, rounded up to 211
    assert free_locked(engine, "fees", "USDC") == (211, 0)
    assert free_locked(engine, "fees", "WETH") == (210_000_000_000, 0)
    assert free_locked(engine, "maker", "USDC") == (FUNDS["USDC"] + 2_100_007 - 211, 0)
    assert engine.ledger.totals() == totals


@pytest.mark.parametrize(
    ("mode", "taker_status", "maker_status", "fills"),
    [
        (SelfTradePrevention.EXPIRE_MAKER, OrderStatus.FILLED, OrderStatus.EXPIRED_IN_MATCH, 1),
        (SelfTradePrevention.EXPIRE_TAKER, OrderStatus.EXPIRED_IN_MATCH, OrderStatus.NEW, 0),
        (
            SelfTradePrevention.EXPIRE_BOTH,
            OrderStatus.EXPIRED_IN_MATCH,
            OrderStatus.EXPIRED_IN_MATCH,
            0,
        ),
        (SelfTradePrevention.NONE, OrderStatus.FILLED, OrderStatus.FILLED, 1),
    ],
)
def test_self_trade_prevention_follows_the_takers_mode(
    mode: SelfTradePrevention, taker_status: OrderStatus, maker_status: OrderStatus, fills: int
) -> None:
    engine = engine_with("me", "other")
    own = engine.place(limit("me", Side.SELL, "3000", "1"), 1).order
    engine.place(limit("other", Side.SELL, "3001", "1"), 2)
    result = engine.place(limit("me", Side.BUY, "3001", "1", tif=TimeInForce.IOC, stp=mode), 3)
    assert result.order.status is taker_status
    assert len(result.fills) == fills
    assert engine.order("me", SYM, order_id=own.order_id).status is maker_status
    if mode is SelfTradePrevention.EXPIRE_MAKER:
        assert result.fills[0].price == price(SPEC, "3001")
    assert free_locked(engine, "me", "USDC")[1] == 0
    if maker_status is not OrderStatus.NEW:
        assert free_locked(engine, "me", "WETH")[1] == 0


def test_post_only_orders_never_take() -> None:
    engine = engine_with("maker", "taker")
    engine.place(limit("maker", Side.SELL, "3000", "1"), 1)
    req = OrderRequest("taker", SYM, Side.BUY, OrderType.LIMIT_MAKER, qty(SPEC, "1"), 300_000)
    with pytest.raises(OrderRejectedError, match="immediately match"):
        engine.place(req, 2)
    ok = OrderRequest("taker", SYM, Side.BUY, OrderType.LIMIT_MAKER, qty(SPEC, "1"), 299_999)
    assert engine.place(ok, 3).order.status is OrderStatus.NEW


def test_filters_and_parameters_are_enforced() -> None:
    engine = engine_with("t")
    with pytest.raises(FilterFailureError, match="PRICE_FILTER"):
        SPEC.price_ticks(SPEC.tick_size / 2 + 3000)
    with pytest.raises(FilterFailureError, match="LOT_SIZE"):
        SPEC.qty_units(SPEC.step_size / 2)
    with pytest.raises(FilterFailureError, match="NOTIONAL"):
        engine.place(limit("t", Side.BUY, "3000", "0.0003"), 1)  # 0.90 USDC < 1
    with pytest.raises(FilterFailureError, match="LOT_SIZE"):
        engine.place(
            OrderRequest("t", SYM, Side.BUY, OrderType.LIMIT, SPEC.lot_units + 1, 300_000), 1
        )
    with pytest.raises(InvalidSymbolError):
        engine.place(OrderRequest("t", "DOGEUSDC", Side.BUY, OrderType.MARKET, 1), 1)
    with pytest.raises(BadParameterError) as info:
        engine.place(OrderRequest("t", SYM, Side.BUY, OrderType.MARKET), 1)
    assert info.value.venue_code == -1102
    with pytest.raises(BadParameterError) as info:
        engine.place(OrderRequest("t", SYM, Side.BUY, OrderType.MARKET, SPEC.lot_units, 1), 1)
    assert info.value.venue_code == -1106
    with pytest.raises(OrderRejectedError, match="insufficient balance"):
        engine.place(limit("t", Side.SELL, "3000", "101"), 1)
    assert engine.open_orders("t") == []


def test_cancel_and_query_errors_use_the_exchange_codes() -> None:
    engine = engine_with("a", "b")
    order = engine.place(limit("a", Side.BUY, "2900", "1", cid="mine"), 1).order
    with pytest.raises(CancelRejectedError) as c_info:
        engine.cancel("b", SYM, 2, order_id=order.order_id)
    assert c_info.value.venue_code == -2011
    with pytest.raises(NoSuchOrderError) as q_info:
        engine.order("b", SYM, order_id=order.order_id)
    assert q_info.value.venue_code == -2013
    with pytest.raises(OrderRejectedError, match="Duplicate"):
        engine.place(limit("a", Side.BUY, "2900", "1", cid="mine"), 2)
    cancelled = engine.cancel("a", SYM, 3, client_order_id="mine")
    assert cancelled.status is OrderStatus.CANCELED
    assert free_locked(engine, "a", "USDC") == (FUNDS["USDC"], 0)
    with pytest.raises(CancelRejectedError):
        engine.cancel("a", SYM, 4, order_id=order.order_id)
    again = engine.place(limit("a", Side.BUY, "2900", "1", cid="mine"), 5).order
    assert engine.order("a", SYM, client_order_id="mine").order_id == again.order_id


def test_closed_orders_are_forgotten_beyond_the_history_limit() -> None:
    engine = engine_with("a", history=2)
    ids = [
        engine.cancel(
            "a", SYM, i, order_id=engine.place(limit("a", Side.BUY, "2900", "1"), i).order.order_id
        ).order_id
        for i in range(1, 4)
    ]
    with pytest.raises(NoSuchOrderError):
        engine.order("a", SYM, order_id=ids[0])
    assert engine.order("a", SYM, order_id=ids[2]).status is OrderStatus.CANCELED


def test_book_updates_carry_contiguous_ids_and_final_levels() -> None:
    engine = engine_with("maker", "taker")
    seen: list[Sequence[Event]] = []
    engine.subscribe(seen.append)
    engine.place(limit("maker", Side.SELL, "3000", "1"), 1)
    engine.place(limit("maker", Side.SELL, "3000", "1"), 2)
    engine.place(limit("taker", Side.BUY, "3000", "1.5"), 3)
    updates = [e for batch in seen for e in batch if isinstance(e, BookUpdate)]
    assert [(u.first_update_id, u.last_update_id) for u in updates] == [(1, 1), (2, 2), (3, 4)]
    assert updates[-1].asks == ((300_000, qty(SPEC, "0.5")),)
    trades = [e for e in seen[-1] if isinstance(e, TradeEvent)]
    assert [t.qty for t in trades] == [qty(SPEC, "1"), qty(SPEC, "0.5")]
    assert all(t.buyer_account == "taker" and not t.buyer_is_maker for t in trades)
    assert engine.depth(SYM, 10).last_update_id == 4


def test_a_batch_emits_one_update_for_many_operations() -> None:
    engine = engine_with("mm")
    seen: list[Sequence[Event]] = []
    engine.subscribe(seen.append)
    with engine.batch():
        for i in range(5):
            engine.place(limit("mm", Side.BUY, f"{2990 + i}", "1"), i + 1)
        engine.cancel_all("mm", SYM, 9)
    assert len(seen) == 1
    (update,) = seen[0]
    assert isinstance(update, BookUpdate)
    assert (update.first_update_id, update.last_update_id) == (1, 10)
    assert all(total == 0 for _, total in update.bids)
