"""Candidate paths: every hop-limited route from the sell node to the buy node, cached.

Hop counting: every hop counts, trades and transfers alike, so the default limit
of 3 allows e.g. transfer -> trade -> transfer (through the venue or another
chain) or trade -> trade -> transfer. Two transfers in a row are never proposed:
the direct transfer between the outer locations exists whenever the chained one
does, draws on the same inventory and costs less.

Paths depend on the topology only (markets and locations), so they are computed
once per ``(sell, buy, hop_limit, topology key)`` and kept in a bounded LRU until
the topology changes. Markets that lie on a route only longer than the limit are
reported so the quote can say ``hop_limit`` for them.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import networkx as nx

from aggregator.models.assets import AssetAt
from aggregator.router.graph import Hop, HopKind, RoutingGraph, add_transfers

__all__ = ["CandidatePaths", "PathCache", "find_candidates"]

Path = tuple[Hop, ...]


@dataclass(frozen=True, slots=True)
class CandidatePaths:
    """The routes between two nodes within a hop limit."""

    paths: tuple[Path, ...]
    """Shortest first, then in a stable order."""
    on_path: frozenset[str]
    """Market ids used by at least one candidate path."""
    beyond_limit: frozenset[str]
    """Market ids not on any candidate path that lie on a longer route."""
    truncated: bool = False
    """True when more paths existed than ``max_paths`` and the longest were left out."""


def _hop_key(hop: Hop) -> tuple[str, str, str]:
    return (hop.kind.value, hop.market_id or str(hop.asset_in), hop.side or str(hop.asset_out))


def _expand(graph: RoutingGraph, nodes: list[AssetAt]) -> list[Path]:
    edges = list(itertools.pairwise(nodes))
    # two transfers in a row are dominated by the direct transfer
    for (a, b), (_, c) in itertools.pairwise(edges):
        if a.asset == b.asset == c.asset:
            return []
    options = [graph.edges[u, v]["hops"] for u, v in edges]
    return [tuple(combo) for combo in itertools.product(*options)]


def _beyond_limit(
    graph: RoutingGraph, sell: AssetAt, buy: AssetAt, on_path: frozenset[str]
) -> frozenset[str]:
    """Markets off every candidate path that a longer route from ``sell`` to ``buy`` uses
    (reaching the market without crossing it back, and leaving it towards ``buy``)."""
    from_sell = nx.descendants(graph, sell) | {sell}
    to_buy = nx.ancestors(graph, buy) | {buy}
    beyond: set[str] = set()
    for u, v, data in graph.edges(data=True):
        if u not in from_sell or v not in to_buy or u == buy or v == sell:
            continue
        for hop in data["hops"]:
            if hop.kind is not HopKind.TRADE or hop.market_id in on_path:
                continue
            assert hop.market_id is not None
            if hop.market_id in beyond:
                continue
            view = nx.restricted_view(graph, [], [(u, v), (v, u)])
            if (u == sell or nx.has_path(view, sell, u)) and (
                v == buy or nx.has_path(view, v, buy)
            ):
                beyond.add(hop.market_id)
    return frozenset(beyond)


def find_candidates(
    graph: RoutingGraph, sell: AssetAt, buy: AssetAt, hop_limit: int, max_paths: int = 64
) -> CandidatePaths:
    """Enumerate the candidate paths from ``sell`` to ``buy`` (see the module docstring)."""
    if sell not in graph or buy not in graph:
        graph = graph.copy()
        for node in (sell, buy):
            if node not in graph:
                add_transfers(graph, node)
    paths: list[Path] = []
    for nodes in nx.all_simple_paths(graph, sell, buy, cutoff=hop_limit):
        paths.extend(_expand(graph, nodes))
    paths.sort(key=lambda p: (len(p), [_hop_key(h) for h in p]))
    truncated = len(paths) > max_paths
    paths = paths[:max_paths]
    on_path = frozenset(h.market_id for p in paths for h in p if h.market_id is not None)
    beyond = _beyond_limit(graph, sell, buy, on_path)
    return CandidatePaths(
        paths=tuple(paths),
        on_path=on_path,
        beyond_limit=beyond,
        truncated=truncated,
    )


class PathCache:
    """Bounded LRU caches of routing graphs (per topology) and candidate paths."""

    def __init__(self, max_entries: int = 256, max_paths: int = 64) -> None:
        self._max = max_entries
        self._max_paths = max_paths
        self._graphs: OrderedDict[Hashable, RoutingGraph] = OrderedDict()
        self._paths: OrderedDict[Hashable, CandidatePaths] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def graph(self, topology: Hashable, build: Callable[[], RoutingGraph]) -> RoutingGraph:
        graph = self._graphs.get(topology)
        if graph is None:
            graph = build()
            self._graphs[topology] = graph
            if len(self._graphs) > max(4, self._max // 16):
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(topology)
        return graph

    def candidates(
        self, topology: Hashable, graph: RoutingGraph, sell: AssetAt, buy: AssetAt, hop_limit: int
    ) -> CandidatePaths:
        key = (sell, buy, hop_limit, topology)
        found = self._paths.get(key)
        if found is not None:
            self.hits += 1
            self._paths.move_to_end(key)
            return found
        self.misses += 1
        found = find_candidates(graph, sell, buy, hop_limit, self._max_paths)
        self._paths[key] = found
        if len(self._paths) > self._max:
            self._paths.popitem(last=False)
        return found

    def clear(self) -> None:
        self._graphs.clear()
        self._paths.clear()
