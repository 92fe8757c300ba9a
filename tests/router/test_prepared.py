"""Per-snapshot structures: book models kept across snapshots while the book is the same."""

from __future__ import annotations

from decimal import Decimal

from aggregator.models import Liquidity, Market, OrderBook, QuoteRequest, Side
from aggregator.router import Router, RouterConfig
from aggregator.router.exact import ExactState
from aggregator.router.prepared import BookCache
from tests.router.factory import at, book, ladder, pool, snapshot, units


def _book(mid: int = 3000) -> tuple[Market, OrderBook]:
    bids, asks = ladder(Decimal(mid), 2, 300, units("WETH", 2))
    return book("WETH", "USDC", bids, asks)


def _request() -> QuoteRequest:
    return QuoteRequest(
        sell=at("USDC", "alpha"), buy=at("WETH", "beta"), amount=units("USDC", 400_000)
    )


def test_book_models_are_kept_while_the_book_object_is_the_same() -> None:
    cache = BookCache(8)
    market, ob = _book()
    curve, exact = cache.side(market.id, ob, Side.BUY_BASE, 0)
    assert cache.side(market.id, ob, Side.BUY_BASE, 0)[1] is exact
    # a changed book is a new object: new models, whatever its sequence says
    _, changed = _book(3010)
    assert cache.side(market.id, changed, Side.BUY_BASE, 0)[1] is not exact
    # another side or minimum size is another model
    assert cache.side(market.id, ob, Side.SELL_BASE, 0)[1] is not exact
    assert cache.side(market.id, ob, Side.BUY_BASE, 5)[1] is not exact
    # the float curve and the exact model agree on the whole side's depth
    depth_out = exact.fwd(exact.cum_in[-1], ExactState({}), commit=False)
    assert depth_out is not None
    assert abs(curve.total_in - exact.cum_in[-1]) <= exact.cum_in[-1] * 1e-12
    assert abs(curve.total_out * curve.f - depth_out) <= depth_out * 1e-9 + 1


def test_the_cache_is_bounded() -> None:
    cache = BookCache(2)
    books = [_book(3000 + k) for k in range(3)]
    first = cache.side(books[0][0].id, books[0][1], Side.BUY_BASE, 0)[1]
    for market, ob in books[1:]:
        cache.side(market.id, ob, Side.BUY_BASE, 0)
    assert cache.side(books[0][0].id, books[0][1], Side.BUY_BASE, 0)[1] is not first


def test_quotes_on_a_new_snapshot_reuse_unchanged_books_and_equal_fresh_ones() -> None:
    markets: list[tuple[Market, Liquidity]] = [
        pool("alpha", "WETH", "USDC", base_amount=1_000),
        pool("beta", "WETH", "USDC", base_amount=1_000, price=3_010),
        _book(),
    ]
    router = Router(RouterConfig())
    first = router.quote(snapshot(markets), _request())
    # a new block: new pool reserves, the same book object
    moved: list[tuple[Market, Liquidity]] = [
        pool("alpha", "WETH", "USDC", base_amount=1_100),
        *markets[1:],
    ]
    again = router.quote(snapshot(moved), _request())
    fresh = Router(RouterConfig()).quote(snapshot(moved), _request())
    assert any(leg.market_id == markets[2][0].id for leg in again.legs)
    assert again.paths == fresh.paths
    assert again.amount_out == fresh.amount_out != first.amount_out
