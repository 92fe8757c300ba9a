"""Re-balancing against a binding inventory by pricing it (Lagrangian relaxation).

When a split draws an inventory to its end and paths sharing markets with the
paths that draw on it run before them, every move between two paths changes what
the inventory must give: the re-balance's pair moves can then only reach the
limit, never move along it, although a move of three paths at once would gain.

Relaxing the limit removes the cliff: the inventory costs a price per unit
drawn (``Runs`` with ``prices``), and the pair moves maximise the output less
that cost, which is smooth. At the right price the best split draws exactly the
inventory and is the best split under the limit. The price is found by a
bracket (halving or doubling from an estimate off the marginal values) and
regula falsi (Illinois) on what the best split draws; every split found within
the limit is valued with the limit in force and the best one kept.
"""

from __future__ import annotations

from collections.abc import Callable

from aggregator.router.curves import INF, FloatTransfer
from aggregator.router.sequential import Runs
from aggregator.router.split import Splitter

__all__ = ["AT_BOUND", "binding", "price_inventories"]

AT_BOUND = 1e-3
"""An inventory this close (relative) to its end is at its bound."""
_H = 1e-7
"""Forward-difference step, as a fraction of the largest allocation."""
_BRACKET = 12
"""Most halvings or doublings of the price while bracketing."""
_FALSI = 8
"""Most regula falsi steps once bracketed."""
_DRAW_TOL = 1e-7
"""A split drawing within this fraction of the inventory meets the limit."""

Ascend = Callable[[Runs], bool]
"""The re-balance's pair moves, applied to a ``Runs`` in place."""


def binding(sp: Splitter, runs: Runs) -> list[int]:
    """State slots of the inventories the active paths drew to their end."""
    slots: set[int] = set()
    for j in runs.order:
        if runs.alloc[j] > 0.0:
            for h in sp.routes[j].fhops:
                if isinstance(h, FloatTransfer) and runs.final[h.i_cap] <= (
                    sp.st0[h.i_cap] * AT_BOUND
                ):
                    slots.add(h.i_cap)
    return sorted(slots)


def _price_estimate(sp: Splitter, order: list[int], alloc: list[float], slot: int) -> float:
    """The price at which the active paths' marginal values, less the marginal draw at
    that price, agree best (least squares), from forward differences with no limit."""
    runs = Runs(sp, order, alloc, {slot: 0.0})
    h = _H * max(alloc[j] for j in order)
    ups, draws = [], []
    for j in order:
        if alloc[j] <= 0.0:
            continue
        v = runs.value_with({j: alloc[j] + h})
        if v == -INF:
            continue
        ups.append((v - runs.value) / h)
        draws.append((runs.drawn(slot, runs.last) - runs.drawn(slot)) / h)
    if len(ups) < 2:
        return 0.0
    mu, md = sum(ups) / len(ups), sum(draws) / len(draws)
    var = sum((d - md) ** 2 for d in draws)
    if var <= 0.0:
        return 0.0
    return max(sum((u - mu) * (d - md) for u, d in zip(ups, draws, strict=True)) / var, 0.0)


def _price_one(
    sp: Splitter, order: list[int], alloc: list[float], slot: int, ascend: Ascend
) -> tuple[list[float], float] | None:
    """The best split found within inventory ``slot``'s limit by pricing it, with its
    value under the limit; None if none executes."""
    limit = sp.st0[slot]
    best: tuple[list[float], float] | None = None

    def solve(price: float, start: list[float]) -> tuple[list[float], float]:
        nonlocal best
        runs = Runs(sp, order, start, {slot: price})
        ascend(runs)
        over = runs.drawn(slot) - limit
        if over <= 0.0:
            value = Runs(sp, order, runs.alloc).value
            if value > -INF and (best is None or value > best[1]):
                best = (runs.alloc, value)
        return runs.alloc, over

    price = _price_estimate(sp, order, alloc, slot)
    if price <= 0.0:
        price = 1e-12
    x, over = solve(price, alloc)
    lo: tuple[float, float, list[float]] | None = None  # price too low: draws too much
    hi: tuple[float, float, list[float]] | None = None
    for _ in range(_BRACKET):
        if over > 0.0:
            lo = (price, over, x)
            if hi is not None:
                break
            price *= 2.0
        else:
            hi = (price, over, x)
            if lo is not None or over >= -_DRAW_TOL * limit:
                break
            price *= 0.5
        x, over = solve(price, x)
    if lo is None or hi is None:
        return best
    side = 0
    for _ in range(_FALSI):
        (p_lo, g_lo, x_lo), (p_hi, g_hi, x_hi) = lo, hi
        if -g_hi <= _DRAW_TOL * limit:
            break
        price = p_lo + (p_hi - p_lo) * g_lo / (g_lo - g_hi)
        x, over = solve(price, x_hi if side <= 0 else x_lo)
        if over > 0.0:
            lo = (price, over, x)
            if side > 0:  # Illinois: halve the stale end's weight
                hi = (p_hi, g_hi / 2.0, x_hi)
            side = 1
        else:
            hi = (price, over, x)
            if side < 0:
                lo = (p_lo, g_lo / 2.0, x_lo)
            side = -1
    return best


def price_inventories(sp: Splitter, runs: Runs, ascend: Ascend) -> list[float] | None:
    """A better split than ``runs``' (a split the pair moves are stuck at) found by pricing
    the inventories it drew to their end, one after the other; None if none is better."""
    alloc, value = runs.alloc, runs.value
    better = None
    for slot in binding(sp, runs):
        found = _price_one(sp, runs.order, alloc, slot, ascend)
        if found is not None and found[1] > value:
            alloc, value = found
            better = alloc
    return better
