"""Per-snapshot structures, built once and reused by every quote on the same snapshot.

A :class:`PreparedSnapshot` holds what does not depend on the request: which
markets are usable (liquidity present, not stale or quarantined), asset decimals,
the float curves and exact models of every market side (built on first use), the
state-vector layout, and the compiled candidate routes per (sell, buy, hop limit).

A book side's curves (hundreds of levels) outlive the snapshot: a :class:`BookCache`
shared by a router's snapshots keeps them while the book object is the same (a
book is immutable; a changed book is a new object), so a new block does not
rebuild books the venue left alone.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from aggregator.market.snapshot import MarketSnapshot
from aggregator.models.assets import AssetAt
from aggregator.models.liquidity import AmmCurve, Liquidity, OrderBook
from aggregator.models.market import Side
from aggregator.models.quote import Exclusion, SettlementPlan
from aggregator.router.config import RouterConfig
from aggregator.router.costs import GasPricing, gas_pricing, path_gas_wei
from aggregator.router.curves import FloatAmm, FloatBook, FloatHop, FloatTransfer
from aggregator.router.exact import ExactAmm, ExactBook, ExactHop, ExactTransfer
from aggregator.router.fused import Op, PathFn, fuse
from aggregator.router.graph import Hop, HopKind
from aggregator.router.paths import CandidatePaths

__all__ = ["BookCache", "PreparedSnapshot", "RoutePath", "node_key"]


def node_key(node: AssetAt) -> str:
    return f"{node.asset}@{node.location.key}"


class BookCache:
    """Both models of book sides, per book object, market, side and minimum size (LRU)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[
            tuple[int, str, Side, int], tuple[OrderBook, FloatBook, ExactBook]
        ] = OrderedDict()

    def side(
        self, market_id: str, book: OrderBook, side: Side, min_base: int
    ) -> tuple[FloatBook, ExactBook]:
        """The float curve (at state slot 0) and the exact model of one side of ``book``."""
        key = (id(book), market_id, side, min_base)
        found = self._entries.get(key)
        if found is not None and found[0] is book:
            self._entries.move_to_end(key)
            return found[1], found[2]
        sell = side is Side.SELL_BASE
        levels = _ratios(book, sell)
        curve = FloatBook.from_levels(0, levels, sell, book.fee_bps)
        exact = ExactBook(
            f"{market_id}:{side}", sell, levels, book.lot_size, book.fee_bps, min_base
        )
        # the book is kept with its models, so its id is not reused while cached
        self._entries[key] = (book, curve, exact)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return curve, exact


@dataclass(slots=True)
class RoutePath:
    """A candidate path compiled against one snapshot."""

    hops: tuple[Hop, ...]
    fhops: tuple[FloatHop, ...]
    fhops_rev: tuple[FloatHop, ...]
    xhops: tuple[ExactHop, ...]
    markets: frozenset[str]
    resources: frozenset[str]
    """Market ids and inventory keys the path draws on (paths sharing one fill jointly)."""
    gas_wei: dict[str, int]
    fixed_cost: float
    """Gas of the path's legs in output base units (search estimate)."""
    mid_rate: float
    """Output per input at the mids, fees and costs aside (for price impact)."""
    unpriced: str | None
    """Why the path's gas cannot be valued, if it cannot."""
    _fused: dict[Op, PathFn] = field(default_factory=dict)
    mins: tuple[tuple[int, int, bool], ...] = field(init=False)
    """(hop index, minimum base size, whether the hop sells base) of hops with a minimum."""

    def __post_init__(self) -> None:
        self.mins = tuple(
            (k, x.min_base, getattr(x, "sell", True))
            for k, x in enumerate(self.xhops)
            if x.min_base
        )

    def fused(self, op: Op) -> PathFn:
        """The path's float hops fused for ``op`` (built on first use)."""
        fn = self._fused.get(op)
        if fn is None:
            fn = self._fused[op] = fuse(self.fhops if op.forward else self.fhops_rev, op)
        return fn


class PreparedSnapshot:
    """Request-independent structures of one :class:`MarketSnapshot`."""

    def __init__(
        self,
        snapshot: MarketSnapshot,
        config: RouterConfig,
        decimals: Mapping[str, int],
        books: BookCache | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.config = config
        self.books = books or BookCache(config.book_cache_size)
        self.excluded_markets: dict[str, Exclusion] = {}
        self.excluded_venues: dict[str, Exclusion] = {}
        for exclusion in snapshot.excluded:
            if exclusion.market_id is None:
                self.excluded_venues.setdefault(exclusion.venue, exclusion)
            else:
                self.excluded_markets.setdefault(exclusion.market_id, exclusion)
        self.usable: dict[str, Liquidity] = {}
        for market_id, market in snapshot.markets.items():
            liquidity = snapshot.liquidity.get(market_id)
            if (
                liquidity is not None
                and market_id not in self.excluded_markets
                and market.venue not in self.excluded_venues
            ):
                self.usable[market_id] = liquidity
        self.decimals: dict[str, int] = {}
        for market_id, liquidity in snapshot.liquidity.items():
            known = snapshot.markets.get(market_id)
            if known is not None:
                self.decimals.setdefault(known.base.asset, liquidity.base_decimals)
                self.decimals.setdefault(known.quote.asset, liquidity.quote_decimals)
        self.decimals.update(decimals)
        self.inventory: dict[str, int] = {
            node_key(line.asset_at): line.available for line in snapshot.inventory
        }
        self.inventory_nodes = tuple(line.asset_at for line in snapshot.inventory)
        inventory_sig = tuple(sorted(self.inventory))
        self.topology: Hashable = (
            snapshot.topology_key
            or tuple(sorted((m.id, m.location.key) for m in snapshot.markets.values())),
            inventory_sig,
        )
        self.known_assets = set(self.decimals)
        """Assets whose decimals are known (from the markets or the router's registry)."""
        self.state0: list[float] = []
        self._slots: dict[str, int] = {}
        self.cap_slots: dict[str, int] = {}
        self._float: dict[tuple[str, Side], FloatHop] = {}
        self._exact: dict[tuple[str, Side], ExactHop] = {}
        self._pricing: dict[str, GasPricing] = {}
        self.routes: dict[Hashable, list[RoutePath]] = {}
        self.exclusions: dict[tuple[str, str | None, str, str], Exclusion] = {}
        """Exclusions built for this snapshot's quotes (immutable, so quotes share them)."""
        self.settlements: dict[tuple[str, str], SettlementPlan] = {}
        """Settlement plans per (source chain, destination chain)."""

    # -- state layout -------------------------------------------------------------------

    def _alloc(self, key: str, values: tuple[float, ...]) -> int:
        slot = self._slots.get(key)
        if slot is None:
            slot = len(self.state0)
            self._slots[key] = slot
            self.state0.extend(values)
        return slot

    def cap_slot(self, key: str) -> int:
        slot = self.cap_slots.get(key)
        if slot is None:
            slot = self._alloc("cap:" + key, (0.0,))
            self.cap_slots[key] = slot
        return slot

    def initial_state(self, caps: Mapping[str, int]) -> list[float]:
        st = self.state0[:]
        for key, slot in self.cap_slots.items():
            st[slot] = float(caps.get(key, 0))
        return st

    # -- per-hop models -----------------------------------------------------------------

    def float_hop(self, hop: Hop) -> FloatHop:
        if hop.kind is HopKind.TRANSFER:
            return FloatTransfer(
                self.cap_slot(node_key(hop.asset_out)), self.snapshot.transfer_cost.bps
            )
        assert hop.market_id is not None and hop.side is not None
        found = self._float.get((hop.market_id, hop.side))
        if found is not None:
            return found
        liq = self.usable[hop.market_id]
        sell = hop.side is Side.SELL_BASE
        model: FloatHop
        if isinstance(liq, AmmCurve):
            slot = self._alloc(
                "amm:" + hop.market_id, (float(liq.reserve_base), float(liq.reserve_quote))
            )
            model = FloatAmm(slot if sell else slot + 1, slot + 1 if sell else slot, liq.fee_bps)
        else:
            slot = self._alloc(f"book:{hop.market_id}:{hop.side}", (0.0, 0.0))
            min_base = self.snapshot.markets[hop.market_id].min_size
            curve, _ = self.books.side(hop.market_id, liq, hop.side, min_base)
            model = curve.at_slot(slot)
        self._float[(hop.market_id, hop.side)] = model
        return model

    def exact_hop(self, hop: Hop) -> ExactHop:
        if hop.kind is HopKind.TRANSFER:
            return ExactTransfer(node_key(hop.asset_out), self.snapshot.transfer_cost.bps)
        assert hop.market_id is not None and hop.side is not None
        found = self._exact.get((hop.market_id, hop.side))
        if found is not None:
            return found
        liq = self.usable[hop.market_id]
        min_base = self.snapshot.markets[hop.market_id].min_size
        sell = hop.side is Side.SELL_BASE
        model: ExactHop
        if isinstance(liq, AmmCurve):
            model = ExactAmm(
                hop.market_id, sell, liq.reserve_base, liq.reserve_quote, liq.fee_bps, min_base
            )
        else:
            _, model = self.books.side(hop.market_id, liq, hop.side, min_base)
        self._exact[(hop.market_id, hop.side)] = model
        return model

    def pricing(self, out_asset: str) -> GasPricing:
        found = self._pricing.get(out_asset)
        if found is None:
            found = gas_pricing(
                self.snapshot.chains,
                self.snapshot.reference_prices,
                out_asset,
                self.decimals[out_asset],
            )
            self._pricing[out_asset] = found
        return found

    def mid_rate(self, hop: Hop) -> float:
        if hop.kind is HopKind.TRANSFER:
            return 1.0
        assert hop.market_id is not None
        liq = self.usable[hop.market_id]
        mid = liq.mid_price()
        if mid is None:
            levels = liq.bids or liq.asks if isinstance(liq, OrderBook) else ()
            if not levels:
                return 0.0
            mid = levels[0].price
        raw = float(mid.scaleb(liq.quote_decimals - liq.base_decimals))
        if raw <= 0:
            return 0.0
        return raw if hop.side is Side.SELL_BASE else 1.0 / raw

    # -- compiled routes ----------------------------------------------------------------

    def compile(self, key: Hashable, candidates: CandidatePaths, out_asset: str) -> list[RoutePath]:
        """Compile the candidate paths whose markets are all usable (cached per ``key``)."""
        found = self.routes.get(key)
        if found is not None:
            return found
        pricing = self.pricing(out_asset)
        chains = self.snapshot.chains
        transfer_gas = self.snapshot.transfer_cost.gas
        routes: list[RoutePath] = []
        for hops in candidates.paths:
            if any(h.market_id is not None and h.market_id not in self.usable for h in hops):
                continue
            fhops = tuple(self.float_hop(h) for h in hops)
            markets = frozenset(h.market_id for h in hops if h.market_id is not None)
            caps = frozenset(
                "cap:" + node_key(h.asset_out) for h in hops if h.kind is HopKind.TRANSFER
            )
            gas_wei = path_gas_wei(hops, chains, self.config, transfer_gas)
            unpriced = pricing.priced(gas_wei)
            rate = 1.0
            for h in hops:
                rate *= self.mid_rate(h)
            routes.append(
                RoutePath(
                    hops=hops,
                    fhops=fhops,
                    fhops_rev=fhops[::-1],
                    xhops=tuple(self.exact_hop(h) for h in hops),
                    markets=markets,
                    resources=markets | caps,
                    gas_wei=gas_wei,
                    fixed_cost=0.0 if unpriced else pricing.estimate(gas_wei),
                    mid_rate=rate,
                    unpriced=unpriced,
                )
            )
        self.routes[key] = routes
        return routes


def _ratios(book: OrderBook, sell: bool) -> list[tuple[int, int, int]]:
    """Book levels as exact (numerator, denominator, size) of base-unit prices."""
    qs, bs = 10**book.quote_decimals, 10**book.base_decimals
    out = []
    for price, size in book.bids if sell else book.asks:
        num, den = price.as_integer_ratio()
        out.append((num * qs, den * bs, size))
    return out
