"""The routing graph: assets at locations, joined by trades and transfers.

Nodes are :class:`~aggregator.models.AssetAt`. An edge ``u -> v`` carries the list
of ways (``hops``) to turn ``u`` into ``v``:

* a *trade* hop per market and direction: ``Side.SELL_BASE`` goes base -> quote,
  ``Side.BUY_BASE`` quote -> base, at the market's location; two pools of one pair
  on one chain are two hops on the same edge;
* a *transfer* hop between two locations of the same asset (chain <-> chain,
  chain <-> venue). The resolver fronts the asset at the destination out of its
  own inventory there, so a transfer's capacity is that inventory (known only at
  quote time) and its cost is ``transfer_cost.bps`` plus gas on the source
  location when that is a chain (the transaction that rebalances the inventory).

The graph is built from the topology alone (markets and locations), never from
liquidity, health or inventory levels, so it can be cached per topology key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

import networkx as nx

from aggregator.models.assets import AssetAt, Location
from aggregator.models.market import Market, Side

__all__ = [
    "TRANSFER_VENUE",
    "Hop",
    "HopKind",
    "RoutingGraph",
    "add_transfers",
    "build_graph",
    "locations_by_asset",
]

TRANSFER_VENUE = "inventory"
"""The venue name transfer legs carry: the resolver's own inventory."""


RoutingGraph: TypeAlias = "nx.DiGraph[AssetAt]"
"""Nodes are assets at locations; each edge's ``hops`` attribute lists its :class:`Hop` s."""


class HopKind(StrEnum):
    TRADE = "trade"
    TRANSFER = "transfer"


@dataclass(frozen=True, slots=True)
class Hop:
    """One way across one edge: a trade on a market in one direction, or a transfer."""

    kind: HopKind
    asset_in: AssetAt
    asset_out: AssetAt
    location: Location
    """The market's location for a trade; the destination (where inventory is used) for a
    transfer."""
    venue: str
    market_id: str | None = None
    side: Side | None = None

    @property
    def gas_location(self) -> Location | None:
        """The location whose chain this hop spends gas on, if any."""
        if self.kind is HopKind.TRADE:
            return self.location if self.location.is_chain else None
        return self.asset_in.location if self.asset_in.location.is_chain else None


def _trade_hops(market: Market) -> tuple[Hop, Hop]:
    sell = Hop(
        kind=HopKind.TRADE,
        asset_in=market.base,
        asset_out=market.quote,
        location=market.location,
        venue=market.venue,
        market_id=market.id,
        side=Side.SELL_BASE,
    )
    buy = Hop(
        kind=HopKind.TRADE,
        asset_in=market.quote,
        asset_out=market.base,
        location=market.location,
        venue=market.venue,
        market_id=market.id,
        side=Side.BUY_BASE,
    )
    return sell, buy


def _add_hop(graph: RoutingGraph, hop: Hop) -> None:
    if graph.has_edge(hop.asset_in, hop.asset_out):
        graph.edges[hop.asset_in, hop.asset_out]["hops"].append(hop)
    else:
        graph.add_edge(hop.asset_in, hop.asset_out, hops=[hop])


def locations_by_asset(nodes: Iterable[AssetAt]) -> dict[str, list[AssetAt]]:
    """Group nodes by canonical asset, in a stable order (by location key)."""
    grouped: dict[str, list[AssetAt]] = {}
    for node in nodes:
        grouped.setdefault(node.asset, []).append(node)
    for nodes_of in grouped.values():
        nodes_of.sort(key=lambda n: (n.location.kind, n.location.key))
    return grouped


def _has_transfer(graph: RoutingGraph, src: AssetAt, dst: AssetAt) -> bool:
    if not graph.has_edge(src, dst):
        return False
    return any(h.kind is HopKind.TRANSFER for h in graph.edges[src, dst]["hops"])


def _transfer(src: AssetAt, dst: AssetAt) -> Hop:
    return Hop(
        kind=HopKind.TRANSFER,
        asset_in=src,
        asset_out=dst,
        location=dst.location,
        venue=TRANSFER_VENUE,
    )


def add_transfers(graph: RoutingGraph, node: AssetAt) -> None:
    """Join ``node`` both ways to every other location of its asset already in ``graph``."""
    others = [n for n in graph.nodes if n.asset == node.asset and n != node]
    graph.add_node(node)
    for other in others:
        for src, dst in ((node, other), (other, node)):
            if not _has_transfer(graph, src, dst):
                _add_hop(graph, _transfer(src, dst))


def build_graph(markets: Mapping[str, Market], extra_nodes: Iterable[AssetAt] = ()) -> RoutingGraph:
    """The routing graph of ``markets`` plus ``extra_nodes`` (e.g. inventory locations).

    Markets are added in id order so that hop order (and hence path order) is stable.
    """
    graph: RoutingGraph = nx.DiGraph()
    for market_id in sorted(markets):
        for hop in _trade_hops(markets[market_id]):
            _add_hop(graph, hop)
    graph.add_nodes_from(extra_nodes)
    for nodes_of in locations_by_asset(list(graph.nodes)).values():
        for src in nodes_of:
            for dst in nodes_of:
                if src != dst:
                    _add_hop(graph, _transfer(src, dst))
    return graph
