"""Candidate paths: hop counting, pruning, parallel markets, caching by topology."""

from __future__ import annotations

import itertools
from decimal import Decimal

from aggregator.market.snapshot import MarketSnapshot
from aggregator.models import Liquidity, Market, QuoteRequest
from aggregator.router import HopKind, Router, RouterConfig, build_graph, find_candidates
from aggregator.router.graph import RoutingGraph
from aggregator.router.paths import PathCache
from tests.router.factory import at, book, ladder, pool, snapshot, units


def _markets() -> list[tuple[Market, Liquidity]]:
    bids, asks = ladder(Decimal(3000), 2, 20, units("WETH", 5))
    return [
        pool("alpha", "WETH", "USDC", base_amount=2_000),
        pool("alpha", "WETH", "USDC", base_amount=1_000, tag="b"),
        pool("beta", "WETH", "USDC", base_amount=2_000),
        book("WETH", "USDC", bids, asks),
    ]


def _graph() -> tuple[MarketSnapshot, RoutingGraph]:
    snap = snapshot(_markets())
    return snap, build_graph(snap.markets, [line.asset_at for line in snap.inventory])


def test_hop_limit_counts_trades_and_transfers() -> None:
    _, graph = _graph()
    sell, buy = at("USDC", "alpha"), at("WETH", "alpha")
    one = find_candidates(graph, sell, buy, 1)
    assert {p[0].market_id for p in one.paths} == {"alpha:WETHUSDC", "alpha:WETHUSDCb"}
    assert all(len(p) == 1 for p in one.paths)
    three = find_candidates(graph, sell, buy, 3)
    assert max(len(p) for p in three.paths) == 3
    venue = [p for p in three.paths if any(h.market_id == "clob:WETHUSDC" for h in p)]
    assert venue and all(
        [h.kind for h in p] == [HopKind.TRANSFER, HopKind.TRADE, HopKind.TRANSFER] for p in venue
    )
    assert "clob:WETHUSDC" in one.beyond_limit and "clob:WETHUSDC" in three.on_path


def test_no_two_transfers_in_a_row_and_paths_are_simple() -> None:
    _, graph = _graph()
    found = find_candidates(graph, at("USDC", "alpha"), at("WETH", "beta"), 4)
    for path in found.paths:
        kinds = [h.kind for h in path]
        assert all(
            not (a is HopKind.TRANSFER and b is HopKind.TRANSFER)
            for a, b in itertools.pairwise(kinds)
        )
        nodes = [path[0].asset_in, *(h.asset_out for h in path)]
        assert len(set(nodes)) == len(nodes)
        assert path[0].asset_in == at("USDC", "alpha") and path[-1].asset_out == at("WETH", "beta")
    lengths = [len(p) for p in found.paths]
    assert lengths == sorted(lengths)


def test_request_locations_without_markets_or_inventory_are_joined_by_transfers() -> None:
    snap = snapshot(_markets(), inventory={at("WETH", "alpha"): units("WETH", 100)})
    graph = build_graph(snap.markets, [line.asset_at for line in snap.inventory])
    assert at("USDC", "gamma") not in graph
    found = find_candidates(graph, at("USDC", "gamma"), at("WETH", "alpha"), 3)
    assert found.paths
    assert all(p[0].kind is HopKind.TRANSFER for p in found.paths)


def test_paths_are_computed_once_per_topology() -> None:
    router = Router(RouterConfig())
    cache: PathCache = router.paths
    markets = _markets()
    first = snapshot(markets)
    request = QuoteRequest(
        sell=at("USDC", "alpha"), buy=at("WETH", "beta"), amount=units("USDC", 1_000)
    )
    router.quote(first, request)
    assert (cache.misses, cache.hits) == (1, 0)
    # a new snapshot of the same topology (new liquidity, same markets) reuses the paths
    router.quote(snapshot(markets, gas_gwei={"alpha": 3}), request)
    router.quote(first, request.model_copy(update={"amount": units("USDC", 50_000)}))
    assert (cache.misses, cache.hits) == (1, 2)
    # a new market changes the topology key
    router.quote(snapshot([*markets, pool("gamma", "WETH", "USDC", base_amount=10)]), request)
    assert cache.misses == 2


def test_cache_is_bounded() -> None:
    cache = PathCache(max_entries=2)
    _, graph = _graph()
    for where in ("alpha", "beta", "gamma"):
        cache.candidates("t", graph, at("USDC", where), at("WETH", "alpha"), 2)
    assert len(cache._paths) == 2
    cache.candidates("t", graph, at("USDC", "alpha"), at("WETH", "alpha"), 2)
    assert cache.misses == 4
