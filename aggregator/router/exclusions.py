"""Explaining a quote: every configured venue and market left out, with the reason.

Each market of the snapshot that no leg uses gets one exclusion, from the first
step of the pipeline that stopped it:

    stale / quarantined (copied from the snapshot) -> no liquidity (no_market)
    -> denied / not allowed by the request -> not on any route (no_market) or only
    on routes longer than the hop limit (hop_limit) -> its routes' fates:
    no_capacity, below_min_size, gas_exceeds_gain, not_used (a better price
    elsewhere)

A market on several routes takes the reason of the route that got furthest. A
venue none of whose markets is used gets a venue-level exclusion carrying the
reason of its market that got furthest (``no_market`` if it has none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aggregator.models.quote import Exclusion, ExclusionReason, QuoteRequest
from aggregator.router.paths import CandidatePaths
from aggregator.router.prepared import PreparedSnapshot, RoutePath
from aggregator.router.trusted import build

__all__ = ["PathFate", "build_exclusions"]

PathFate = tuple[ExclusionReason, str]
"""Why a route carries nothing, and a human-readable detail."""

_R = ExclusionReason
_PROGRESS: dict[ExclusionReason, int] = {
    reason: rank
    for rank, reason in enumerate(
        (
            _R.STALE,
            _R.QUARANTINED,
            _R.NO_MARKET,
            _R.DENIED,
            _R.NOT_ALLOWED,
            _R.HOP_LIMIT,
            _R.NO_CAPACITY,
            _R.BELOW_MIN_SIZE,
            _R.GAS_EXCEEDS_GAIN,
            _R.NOT_USED,
        )
    )
}
"""How far through the pipeline each reason means a market got."""


def _further(a: PathFate | None, b: PathFate) -> PathFate:
    return b if a is None or _PROGRESS[b[0]] > _PROGRESS[a[0]] else a


def _market_fate(
    prep: PreparedSnapshot,
    market_id: str,
    request: QuoteRequest,
    candidates: CandidatePaths,
    route_fates: Mapping[str, PathFate],
) -> PathFate:
    market = prep.snapshot.markets[market_id]
    venue_exclusion = prep.excluded_venues.get(market.venue)
    if venue_exclusion is not None:
        return venue_exclusion.reason, venue_exclusion.detail
    if market_id not in prep.snapshot.liquidity:
        return _R.NO_MARKET, "no liquidity in the snapshot"
    if market.venue in request.venues_deny:
        return _R.DENIED, f"venue {market.venue} is denied by the request"
    if request.venues_allow is not None and market.venue not in request.venues_allow:
        return _R.NOT_ALLOWED, f"venue {market.venue} is not in the request's allowed venues"
    if market_id not in candidates.on_path:
        if market_id in candidates.beyond_limit:
            return _R.HOP_LIMIT, "only on routes longer than the hop limit"
        return _R.NO_MARKET, f"not on any route from {request.sell} to {request.buy}"
    found = route_fates.get(market_id)
    if found is None:
        return _R.NO_MARKET, "every route through it needs an excluded market"
    return found


def build_exclusions(
    prep: PreparedSnapshot,
    request: QuoteRequest,
    candidates: CandidatePaths,
    routes: Sequence[RoutePath],
    fates: Mapping[int, PathFate],
    used_markets: set[str],
) -> tuple[Exclusion, ...]:
    """The quote's ``excluded`` list; ``fates`` holds, per route index, why it is unused."""
    route_fates: dict[str, PathFate] = {}
    for i, route in enumerate(routes):
        route_fate = fates.get(i)
        if route_fate is None:
            continue
        for market_id in route.markets:
            route_fates[market_id] = _further(route_fates.get(market_id), route_fate)
    snapshot = prep.snapshot
    out = list(snapshot.excluded)
    venue_fates: dict[str, PathFate] = {}
    used_venues: set[str] = set()
    for market_id, market in snapshot.markets.items():
        if market_id in used_markets:
            used_venues.add(market.venue)
            continue
        known = prep.excluded_markets.get(market_id)
        fate: PathFate
        if known is not None:
            fate = (known.reason, known.detail)
        else:
            fate = _market_fate(prep, market_id, request, candidates, route_fates)
            out.append(_exclusion(prep, market.venue, market_id, fate))
        venue_fates[market.venue] = _further(
            venue_fates.get(market.venue), (fate[0], f"{market_id}: {fate[1]}")
        )
    for venue in snapshot.venues:
        if venue in used_venues or venue in prep.excluded_venues:
            continue
        fate = venue_fates.get(venue, (_R.NO_MARKET, "the venue serves no market"))
        out.append(_exclusion(prep, venue, None, fate))
    return tuple(out)


def _exclusion(
    prep: PreparedSnapshot, venue: str, market_id: str | None, fate: PathFate
) -> Exclusion:
    """The exclusion of a venue or market, shared by the snapshot's quotes (it is frozen)."""
    key = (venue, market_id, fate[0].value, fate[1])
    found = prep.exclusions.get(key)
    if found is None:
        found = prep.exclusions[key] = build(
            Exclusion, venue=venue, market_id=market_id, reason=fate[0], detail=fate[1]
        )
    return found
