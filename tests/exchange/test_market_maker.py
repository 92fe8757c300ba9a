"""The market maker keeps full, uncrossed, moving ladders; a seed replays a run."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

from aggregator.exchange.config import VenueConfig, balances_to_units, load_venue_config
from aggregator.exchange.engine import MatchingEngine
from aggregator.exchange.market_maker import MarketMaker
from aggregator.exchange.orders import BookUpdate, Event, OrderRequest, OrderType, Side
from tests.exchange.specs import CONFIG_PATH, E6


def config(seed: int | None = 7) -> VenueConfig:
    base = load_venue_config(CONFIG_PATH, environ={})
    maker = base.market_maker.model_copy(update={"seed": seed})
    return base.model_copy(update={"market_maker": maker})


def make(seed: int | None = 7) -> tuple[MatchingEngine, MarketMaker, VenueConfig]:
    cfg = config(seed)
    engine = MatchingEngine(cfg.specs())
    mm = cfg.market_maker
    engine.open_account(mm.account, balances_to_units(mm.balances, cfg.assets))
    clock = iter(range(1, 10**9))
    return engine, MarketMaker(engine, mm, lambda: next(clock)), cfg


def test_every_market_gets_a_full_uncrossed_ladder_around_its_reference() -> None:
    engine, mm, cfg = make()
    mm.step()
    for market in cfg.market_maker.markets:
        book = engine.book(market.symbol)
        spec = book.spec
        assert len(book.bids) == len(book.asks) == market.levels
        assert not book.crossed()
        ref = Decimal(mm.reference_price(market.symbol))
        best_bid = (book.bids.best() or 0) * spec.tick_size
        best_ask = (book.asks.best() or 0) * spec.tick_size
        assert best_bid < ref < best_ask
        assert abs(ref / market.reference_price - 1) < Decimal("0.01")
        for order in book.bids.orders():
            assert spec.qty_units(market.min_size) <= order.remaining
            assert order.remaining <= spec.qty_units(market.max_size)


def test_the_same_seed_replays_the_same_books_and_another_seed_does_not() -> None:
    runs = []
    for seed in (3, 3, 4):
        engine, mm, _ = make(seed)
        for _ in range(25):
            mm.step()
        runs.append(engine.depth("WETHUSDC", 100))
    assert runs[0] == runs[1]
    assert (runs[0].bids, runs[0].asks) != (runs[2].bids, runs[2].asks)


def test_each_requote_moves_the_book_with_one_diff_per_market() -> None:
    engine, mm, cfg = make()
    batches: list[Sequence[Event]] = []
    engine.subscribe(batches.append)
    mm.step()
    depths = [engine.depth("WETHUSDC", 100)]
    for _ in range(10):
        batches.clear()
        mm.step()
        per_symbol = Counter(e.symbol for b in batches for e in b if isinstance(e, BookUpdate))
        assert all(count == 1 for count in per_symbol.values())
        depths.append(engine.depth("WETHUSDC", 100))
    changed = sum((a.bids, a.asks) != (b.bids, b.asks) for a, b in itertools.pairwise(depths))
    assert changed >= 8
    assert len(engine.open_orders(cfg.market_maker.account)) == 2 * sum(
        m.levels for m in cfg.market_maker.markets
    )


def test_levels_taken_by_a_trader_are_quoted_again() -> None:
    engine, mm, cfg = make()
    engine.open_account("trader", {"USDC": 10_000_000 * E6})
    mm.step()
    spec = engine.spec("WETHUSDC")
    before = engine.depth("WETHUSDC", 1000)
    size = sum(q for _, q in before.asks[:5])
    engine.place(OrderRequest("trader", "WETHUSDC", Side.BUY, OrderType.MARKET, size), 10**6)
    assert len(engine.book("WETHUSDC").asks) <= 26
    mm.step()
    book = engine.book("WETHUSDC")
    levels = cfg.market_maker.markets[0].levels
    assert len(book.asks) == len(book.bids) == levels and not book.crossed()
    trader = {b.asset: b.free for b in engine.balances("trader")}
    assert trader["WETH"] == size and spec.lot_units <= size


def test_the_reference_walk_stays_near_its_anchor() -> None:
    _, mm, cfg = make()
    walk = []
    for _ in range(1500):
        mm.step()
        walk.append(mm.reference_price("WBTCUSDC"))
    anchor = float(cfg.market_maker.markets[1].reference_price)
    assert all(abs(p / anchor - 1) < 0.05 for p in walk)
    assert len({round(p, 2) for p in walk}) > 100
