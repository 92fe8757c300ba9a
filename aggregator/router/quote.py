"""The router: from a snapshot and a request to a priced, explained :class:`Quote`.

Steps, all pure and synchronous over the immutable snapshot:

1. per-snapshot structures (cached by snapshot), the routing graph (cached by
   topology) and the candidate paths (cached by sell, buy, hop limit, topology);
2. per request: routes through denied, not-allowed, unpriced or empty-inventory
   hops are set aside with that reason;
3. the split search (floats), then every leg recomputed exactly in a fixed order;
   the best single path is computed exactly too and wins if it nets more;
4. costs, settlement plan, exclusions, and the quote.

Inventory: the resolver delivers the output at the buy location from its own
inventory, so the quote's output never exceeds it; transfers draw on the
inventory at their destination. ``inventory`` overrides the snapshot's lines
(e.g. with a reservation store's current availability).

Errors: :class:`UnknownAssetError` (an asset without known decimals, or a chain
without a state), :class:`ValidationError` (a location that is not a chain, or
selling an asset for itself at one place), :class:`NoLiquidityError` (no usable
route, or an order too small for its gas), :class:`InsufficientLiquidityError`
(more than every route together, or than the resolver holds at the buy location).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping

from aggregator.errors import (
    InsufficientLiquidityError,
    NoLiquidityError,
    UnknownAssetError,
    ValidationError,
)
from aggregator.market.snapshot import ChainState, MarketSnapshot
from aggregator.models.assets import AssetAt
from aggregator.models.quote import (
    CostBreakdown,
    ExclusionReason,
    Quote,
    QuoteMode,
    QuoteRequest,
    SettlementPlan,
)
from aggregator.models.timelocks import timelock_plan
from aggregator.router.assemble import Fill, assemble, legs_of
from aggregator.router.config import RouterConfig
from aggregator.router.costs import GasPricing, add_wei, embedded_fee, settlement_gas_wei
from aggregator.router.exclusions import PathFate, build_exclusions
from aggregator.router.execution import execute, integer_split
from aggregator.router.graph import HopKind, build_graph
from aggregator.router.paths import CandidatePaths, PathCache
from aggregator.router.prepared import BookCache, PreparedSnapshot, RoutePath, node_key
from aggregator.router.selection import optimize
from aggregator.router.split import Splitter
from aggregator.router.trusted import build

__all__ = ["Router"]

_R = ExclusionReason


class Router:
    """Computes quotes; holds only caches, so one instance serves every request."""

    def __init__(
        self, config: RouterConfig | None = None, *, decimals: Mapping[str, int] | None = None
    ) -> None:
        self.config = config or RouterConfig()
        self._decimals = dict(decimals or {})
        self.paths = PathCache(self.config.path_cache_size, self.config.max_paths)
        self._prepared: OrderedDict[int, PreparedSnapshot] = OrderedDict()
        self._books = BookCache(self.config.book_cache_size)

    def prepare(self, snapshot: MarketSnapshot) -> PreparedSnapshot:
        """The per-snapshot structures (built once per snapshot object)."""
        found = self._prepared.get(id(snapshot))
        if found is not None and found.snapshot is snapshot:
            self._prepared.move_to_end(id(snapshot))
            return found
        found = PreparedSnapshot(snapshot, self.config, self._decimals, self._books)
        self._prepared[id(snapshot)] = found
        while len(self._prepared) > self.config.snapshot_cache_size:
            self._prepared.popitem(last=False)
        return found

    def candidates(self, prep: PreparedSnapshot, request: QuoteRequest) -> CandidatePaths:
        snapshot = prep.snapshot
        graph = self.paths.graph(
            prep.topology, lambda: build_graph(snapshot.markets, prep.inventory_nodes)
        )
        return self.paths.candidates(
            prep.topology, graph, request.sell, request.buy, self.config.hop_limit
        )

    def quote(
        self,
        snapshot: MarketSnapshot,
        request: QuoteRequest,
        *,
        inventory: Mapping[AssetAt, int] | None = None,
        now_ns: int | None = None,
    ) -> Quote:
        """Price ``request`` on ``snapshot``; raises the typed errors of the module docstring."""
        started = time.perf_counter_ns()
        prep = self.prepare(snapshot)
        source, destination = self._chains(prep, request)
        candidates = self.candidates(prep, request)
        routes = prep.compile(
            (request.sell, request.buy, self.config.hop_limit), candidates, request.buy.asset
        )
        caps = (
            prep.inventory
            if inventory is None
            else {node_key(a): amount for a, amount in inventory.items()}
        )
        fates = _screen(routes, request, caps)
        viable = [i for i in range(len(routes)) if i not in fates]
        pricing = prep.pricing(request.buy.asset)
        settle_wei = settlement_gas_wei(source, destination, self.config)
        unpriced = pricing.priced(settle_wei)
        if unpriced is not None:
            raise NoLiquidityError(f"cannot value settlement gas: {unpriced}")
        if not viable:
            raise NoLiquidityError(
                f"no usable route from {request.sell} to {request.buy}",
                routes=len(routes),
            )
        settle = pricing.cost(settle_wei)
        fill, single = self._fill(prep, request, routes, viable, caps, pricing, settle, fates)
        buy_left = caps.get(node_key(request.buy), 0)
        amount_out = fill.net_out - settle if request.mode is QuoteMode.EXACT_IN else request.amount
        if amount_out <= 0:
            raise NoLiquidityError("the order is too small to pay for gas and settlement")
        if amount_out > buy_left:
            raise InsufficientLiquidityError(
                f"the resolver holds {buy_left} of {request.buy}, the quote needs {amount_out}",
                available=buy_left,
            )
        used = {m for j in fill.members for m in routes[j].markets}
        for j in viable:
            if j not in fill.members:
                fates.setdefault(j, (_R.NOT_USED, "a better price elsewhere"))
        created = time.time_ns() if now_ns is None else now_ns
        legs_wei = add_wei(*(routes[j].gas_wei for j in fill.members))
        return assemble(
            prep=prep,
            request=request,
            routes=routes,
            fill=fill,
            amount_out=amount_out,
            single=single,
            costs=self._costs(prep, routes, fill, legs_wei, settle_wei, settle),
            settlement=self._settlement(prep, source, destination),
            excluded=build_exclusions(prep, request, candidates, routes, fates, used),
            created=created,
            expires=created + self.config.quote_ttl_s * 1_000_000_000,
            compute_ns=time.perf_counter_ns() - started,
        )

    # -- steps ----------------------------------------------------------------------------

    def _chains(self, prep: PreparedSnapshot, request: QuoteRequest) -> tuple[ChainState, ...]:
        for node in (request.sell, request.buy):
            if node.asset not in prep.known_assets:
                raise UnknownAssetError(
                    f"unknown asset {node.asset!r}: no market trades it and the router was "
                    "given no decimals for it",
                    asset=node.asset,
                )
            if not node.location.is_chain:
                raise ValidationError(
                    f"{node} is not on a chain: swaps settle on chains", location=node.location.key
                )
        if request.sell == request.buy:
            raise ValidationError("the sell and buy assets are the same asset at one location")
        chains = prep.snapshot.chains
        found = []
        for node in (request.sell, request.buy):
            state = chains.get(node.location.key)
            if state is None:
                raise UnknownAssetError(f"unknown chain {node.location.key!r}")
            found.append(state)
        return tuple(found)

    def _fill(
        self,
        prep: PreparedSnapshot,
        request: QuoteRequest,
        routes: list[RoutePath],
        viable: list[int],
        caps: Mapping[str, int],
        pricing: GasPricing,
        settle: int,
        fates: dict[int, PathFate],
    ) -> tuple[Fill, int]:
        forward = request.mode is QuoteMode.EXACT_IN
        sub = [routes[i] for i in viable]
        st0 = prep.initial_state(caps)
        splitter = Splitter(sub, st0, self.config, forward=forward)
        total = request.amount if forward else request.amount + settle
        result = optimize(splitter, float(total))
        for k, reason in result.statuses.items():
            detail = {
                _R.GAS_EXCEEDS_GAIN: "its gas costs more than it adds to the output",
                _R.BELOW_MIN_SIZE: "its share would trade below the market's minimum size",
            }.get(reason, "")
            fates[viable[k]] = (reason, detail)
        options: list[Fill] = []
        if result.feasible:
            members = [k for k, a in enumerate(result.alloc) if a > 0.0]
            option = self._exact(sub, members, result.alloc, request, pricing, settle, caps)
            if option is not None:
                options.append(option)
        single_option: Fill | None = None
        if result.best_single is not None:
            k = result.best_single
            single_option = self._exact(sub, [k], _one(len(sub), k), request, pricing, settle, caps)
            if single_option is not None:
                options.append(single_option)
        if not options:
            raise InsufficientLiquidityError(
                f"{request.amount} of {request.sell if forward else request.buy} is beyond "
                "all the liquidity the routes can reach",
                amount=request.amount,
            )
        best = (
            max(options, key=lambda o: o.net_out)
            if forward
            else min(options, key=lambda o: o.amount_in)
        )
        if forward:
            single = single_option.net_out if single_option is not None else 0
        else:
            single = self._single_out(sub, st0, best.amount_in, request, pricing, caps)
        best.members = [viable[k] for k in best.members]
        return best, max(single - settle, 0)

    def _exact(
        self,
        sub: list[RoutePath],
        members: list[int],
        alloc: list[float],
        request: QuoteRequest,
        pricing: GasPricing,
        settle: int,
        caps: Mapping[str, int],
    ) -> Fill | None:
        gas = pricing.cost(add_wei(*(sub[k].gas_wei for k in members)))
        backward = request.mode is QuoteMode.EXACT_OUT
        total = request.amount + settle + gas if backward else request.amount
        run = execute(
            [r.xhops for r in sub],
            [r.resources for r in sub],
            integer_split(total, alloc),
            caps,
            backward=backward,
        )
        if not run.ok:
            return None
        members = [k for k, legs in enumerate(run.legs) if legs]
        gas = pricing.cost(add_wei(*(sub[k].gas_wei for k in members)))
        gross = sum(run.outputs())
        fill = Fill(run, members, gas, sum(run.inputs()), gross)
        if request.mode is QuoteMode.EXACT_OUT and fill.net_out - settle < request.amount:
            return None
        return fill

    def _single_out(
        self,
        sub: list[RoutePath],
        st0: list[float],
        amount_in: int,
        request: QuoteRequest,
        pricing: GasPricing,
        caps: Mapping[str, int],
    ) -> int:
        """Output net of leg gas of the best single path for ``amount_in`` (exact output)."""
        k = Splitter(sub, st0, self.config, forward=True).best_single(
            float(amount_in), [True] * len(sub)
        )
        if k is None:
            return 0
        fwd = request.model_copy(update={"mode": QuoteMode.EXACT_IN, "amount": amount_in})
        option = self._exact(sub, [k], _one(len(sub), k), fwd, pricing, 0, caps)
        return option.net_out if option is not None else 0

    def _settlement(
        self, prep: PreparedSnapshot, source: ChainState, destination: ChainState
    ) -> SettlementPlan:
        """The settlement plan between two chains (per snapshot: quotes share it, it is frozen)."""
        found = prep.settlements.get((source.key, destination.key))
        if found is None:
            plan = timelock_plan(self.config.timelocks, source, destination)
            found = prep.settlements[(source.key, destination.key)] = build(
                SettlementPlan,
                source_chain=source.key,
                source_chain_id=source.chain_id,
                destination_chain=destination.key,
                destination_chain_id=destination.chain_id,
                source_timelock_s=plan.source_timelock_s,
                destination_timelock_s=plan.destination_timelock_s,
                eta_s=plan.eta_s,
            )
        return found

    def _costs(
        self,
        prep: PreparedSnapshot,
        routes: list[RoutePath],
        fill: Fill,
        legs_wei: dict[str, int],
        settle_wei: dict[str, int],
        settle: int,
    ) -> CostBreakdown:
        fees = transfer = 0
        markets = prep.snapshot.markets
        bps = prep.snapshot.transfer_cost.bps
        for j, legs in zip(fill.members, legs_of(fill), strict=True):
            out = legs[-1][1]
            for hop in routes[j].hops:
                if hop.kind is HopKind.TRADE:
                    assert hop.market_id is not None
                    fees += embedded_fee(out, markets[hop.market_id].fee_bps)
                else:
                    transfer += embedded_fee(out, bps)
        return build(
            CostBreakdown,
            venue_fees=fees,
            gas=fill.gas,
            settlement_gas=settle,
            transfer=transfer,
            gas_wei_by_chain=add_wei(legs_wei, settle_wei),
        )


def _one(n: int, k: int) -> list[float]:
    return [1.0 if i == k else 0.0 for i in range(n)]


def _screen(
    routes: list[RoutePath], request: QuoteRequest, caps: Mapping[str, int]
) -> dict[int, PathFate]:
    """Routes set aside before the search, and why."""
    fates: dict[int, PathFate] = {}
    allow = request.venues_allow
    deny = request.venues_deny
    for i, route in enumerate(routes):
        for hop in route.hops:
            if hop.kind is HopKind.TRADE:
                if hop.venue in deny:
                    fates[i] = (_R.DENIED, f"the route needs denied venue {hop.venue}")
                    break
                if allow is not None and hop.venue not in allow:
                    fates[i] = (_R.NOT_ALLOWED, f"the route needs venue {hop.venue}")
                    break
            elif caps.get(node_key(hop.asset_out), 0) <= 0:
                fates[i] = (_R.NO_CAPACITY, f"no free inventory of {hop.asset_out}")
                break
        else:
            if route.unpriced is not None:
                fates[i] = (_R.NO_MARKET, route.unpriced)
    return fates
