"""The router: best cross-chain fills over a graph of assets at locations.

Pure and synchronous over an immutable :class:`~aggregator.market.MarketSnapshot`:
no network, no event loop. :class:`Router` turns a
:class:`~aggregator.models.QuoteRequest` into a :class:`~aggregator.models.Quote`
with exact integer amounts, its costs, its settlement plan and what it left out.
"""

from aggregator.router.config import RouterConfig
from aggregator.router.graph import TRANSFER_VENUE, Hop, HopKind, build_graph
from aggregator.router.paths import CandidatePaths, PathCache, find_candidates
from aggregator.router.quote import Router
from aggregator.router.replay import AmmLeg, amm_legs, replay_outputs
from aggregator.router.reservations import (
    AsyncReservationStore,
    InMemoryReservationStore,
    ReservationStore,
    firm_quote,
    inventory_needs,
)

__all__ = [
    "TRANSFER_VENUE",
    "AmmLeg",
    "AsyncReservationStore",
    "CandidatePaths",
    "Hop",
    "HopKind",
    "InMemoryReservationStore",
    "PathCache",
    "ReservationStore",
    "Router",
    "RouterConfig",
    "amm_legs",
    "build_graph",
    "find_candidates",
    "firm_quote",
    "inventory_needs",
    "replay_outputs",
]
