"""An independent reference for the router's optimality tests.

Nothing here uses the router's code: paths are enumerated by a plain depth-first
search over the snapshot's markets, legs are executed with the models' own
``amount_out``/``amount_in`` on books and pools rebuilt after every fill, and the
split is searched by an exhaustive grid over the simplex of path fractions,
polished by a pattern search (pairwise moves with shrinking steps).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from aggregator.market.snapshot import MarketSnapshot
from aggregator.models import AmmCurve, Liquidity, OrderBook, Side
from aggregator.router import RouterConfig

Node = tuple[str, str]
"""(asset, location key)."""


@dataclass(frozen=True)
class RefHop:
    kind: str  # "trade" | "transfer"
    src: Node
    dst: Node
    market_id: str | None = None
    side: Side | None = None


RefPath = tuple[RefHop, ...]


def enumerate_paths(
    snapshot: MarketSnapshot, sell: Node, buy: Node, hop_limit: int, caps: dict[Node, int]
) -> list[RefPath]:
    """Every simple path of at most ``hop_limit`` hops, no two transfers in a row, no transfer
    into a location where the resolver holds nothing."""
    out_edges: dict[Node, list[RefHop]] = {}
    nodes: set[Node] = {sell, buy}
    for market in snapshot.markets.values():
        b = (market.base.asset, market.base.location.key)
        q = (market.quote.asset, market.quote.location.key)
        nodes.update((b, q))
        out_edges.setdefault(b, []).append(RefHop("trade", b, q, market.id, Side.SELL_BASE))
        out_edges.setdefault(q, []).append(RefHop("trade", q, b, market.id, Side.BUY_BASE))
    nodes.update((line.asset_at.asset, line.asset_at.location.key) for line in snapshot.inventory)
    for a, b in itertools.permutations(sorted(nodes), 2):  # a fixed order, whatever the hash seed
        if a[0] == b[0] and caps.get(b, 0) > 0:
            out_edges.setdefault(a, []).append(RefHop("transfer", a, b))
    found: list[RefPath] = []

    def walk(node: Node, path: list[RefHop], seen: set[Node]) -> None:
        if node == buy:
            found.append(tuple(path))
            return
        if len(path) == hop_limit:
            return
        for hop in out_edges.get(node, []):
            if hop.dst in seen:
                continue
            if hop.kind == "transfer" and path and path[-1].kind == "transfer":
                continue
            path.append(hop)
            seen.add(hop.dst)
            walk(hop.dst, path, seen)
            seen.discard(hop.dst)
            path.pop()

    walk(sell, [], {sell})
    return found


def _after_fill(liq: Liquidity, side: Side, amount_in: int, amount_out: int) -> Liquidity:
    """The market as the next fill sees it."""
    if isinstance(liq, AmmCurve):
        if side is Side.SELL_BASE:
            rb, rq = liq.reserve_base + amount_in, liq.reserve_quote - amount_out
        else:
            rb, rq = liq.reserve_base - amount_out, liq.reserve_quote + amount_in
        return AmmCurve.model_construct(**{**dict(liq), "reserve_base": rb, "reserve_quote": rq})
    if side is Side.SELL_BASE:
        consumed = amount_in - amount_in % liq.lot_size
        levels = liq.bids
    else:
        gross = OrderBook.trusted(**{**dict(liq), "fee_bps": 0})
        consumed = gross.amount_out(amount_in, side)
        levels = liq.asks
    left = []
    for price, size in levels:
        take = min(size, consumed)
        consumed -= take
        if size > take:
            left.append((price, size - take))
    fields = {**dict(liq), "bids" if side is Side.SELL_BASE else "asks": tuple(left)}
    return OrderBook.trusted(**fields)


class Execution:
    """Executes paths in order over shared market state and inventory, with the models."""

    def __init__(self, snapshot: MarketSnapshot, caps: dict[Node, int]) -> None:
        self.snapshot = snapshot
        self.state: dict[str, Liquidity] = dict(snapshot.liquidity)
        self.caps = dict(caps)
        self.bps = snapshot.transfer_cost.bps

    def _transfer_out(self, amount: int) -> int:
        return amount - (amount * self.bps + 9_999) // 10_000

    def forward(self, path: RefPath, amount: int) -> list[tuple[int, int]] | None:
        legs = []
        x = amount
        for hop in path:
            if hop.kind == "transfer":
                out = self._transfer_out(x)
                if out > self.caps.get(hop.dst, 0):
                    return None
                self.caps[hop.dst] -= out
            else:
                assert hop.market_id is not None and hop.side is not None
                liq = self.state[hop.market_id]
                if not _fills(liq, hop.side, x):
                    return None
                out = liq.amount_out(x, hop.side)
                base = x if hop.side is Side.SELL_BASE else out
                if base < self.snapshot.markets[hop.market_id].min_size:
                    return None
                self.state[hop.market_id] = _after_fill(liq, hop.side, x, out)
            legs.append((x, out))
            x = out
        return legs

    def backward(self, path: RefPath, target: int) -> list[tuple[int, int]] | None:
        need = target
        inputs = []
        for hop in reversed(path):
            if hop.kind == "transfer":
                if need > self.caps.get(hop.dst, 0):
                    return None
                x = need
                while self._transfer_out(x) < need:
                    x += 1 + (need - self._transfer_out(x)) // 2
                while x > 0 and self._transfer_out(x - 1) >= need:
                    x -= 1
            else:
                assert hop.market_id is not None and hop.side is not None
                liq = self.state[hop.market_id]
                found = liq.amount_in(need, hop.side)
                if found is None:
                    return None
                x = found
                while liq.amount_out(x, hop.side) < need:
                    x += 1
            inputs.append(x)
            need = x
        inputs.reverse()
        legs = []
        for hop, x in zip(path, inputs, strict=True):
            one = self.forward((hop,), x)
            if one is None:
                return None
            legs.append(one[0])
        return legs


def _fills(liq: Liquidity, side: Side, amount: int) -> bool:
    """Whether the market can absorb the whole input (pools always can)."""
    if isinstance(liq, AmmCurve):
        return True
    if side is Side.SELL_BASE:
        return amount - amount % liq.lot_size <= sum(size for _, size in liq.bids)
    whole_book = 0
    for price, size in liq.asks:
        cost = Fraction(price) * size * Fraction(10**liq.quote_decimals, 10**liq.base_decimals)
        whole_book += -(-cost.numerator // cost.denominator)
    return amount <= whole_book


def gas_wei(snapshot: MarketSnapshot, path: RefPath, config: RouterConfig) -> dict[str, int]:
    wei: dict[str, int] = {}
    for hop in path:
        if hop.kind == "trade":
            market = snapshot.markets[hop.market_id or ""]
            if not market.location.is_chain:
                continue
            chain, units = market.location.key, config.chain_trade_gas
        else:
            if hop.src[1] not in snapshot.chains:
                continue
            chain, units = hop.src[1], snapshot.transfer_cost.gas
        wei[chain] = wei.get(chain, 0) + units * snapshot.chains[chain].gas_price_wei
    return wei


def wei_to_output(snapshot: MarketSnapshot, wei: dict[str, int], out_asset: str, dec: int) -> int:
    total = 0
    for chain, amount in wei.items():
        native = snapshot.chains[chain].native_asset
        ratio = Fraction(snapshot.reference_prices[native]) / Fraction(
            snapshot.reference_prices[out_asset]
        )
        value = Fraction(amount) * ratio * Fraction(10**dec, 10**18)
        total += -(-value.numerator // value.denominator)
    return total


def split_amount(total: int, weights: Sequence[float]) -> list[int]:
    parts = [int(total * w) for w in weights]
    short = total - sum(parts)
    for i in sorted(range(len(weights)), key=lambda i: -weights[i]):
        if short <= 0:
            break
        if weights[i] > 0:
            parts[i] += 1
            short -= 1
    return parts


def simplex_grid(n: int, steps: int) -> list[tuple[float, ...]]:
    points = []
    for cut in itertools.combinations(range(steps + n - 1), n - 1):
        parts = []
        prev = -1
        for c in (*cut, steps + n - 1):
            parts.append(c - prev - 1)
            prev = c
        points.append(tuple(p / steps for p in parts))
    return points


def maximize(
    objective: Callable[[tuple[float, ...]], float | None], n: int, grid_steps: int
) -> tuple[float, tuple[float, ...]] | None:
    """Best value of ``objective`` over the simplex: grid, then pattern search."""
    best: tuple[float, tuple[float, ...]] | None = None
    for w in simplex_grid(n, grid_steps):
        v = objective(w)
        if v is not None and (best is None or v > best[0]):
            best = (v, w)
    if best is None:
        return None
    value, w = best
    step = 1.0 / grid_steps
    while step > 1e-7:
        improved = False
        for i, j in itertools.permutations(range(n), 2):
            if w[i] <= 0.0:
                continue
            move = min(step, w[i])
            trial = list(w)
            trial[i] -= move
            trial[j] += move
            v = objective(tuple(trial))
            if v is not None and v > value:
                value, w, improved = v, tuple(trial), True
        if not improved:
            step /= 2
    return value, w
