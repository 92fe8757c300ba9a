"""Re-balancing a split for the order its fills execute in.

The search (``split.py``) lets paths share a market's fills chunk by chunk, as if
they traded at the same time, and lets a pool's fee leave its reserve. Executed
path by path, an earlier path's swap gets the better price and every swap's fee
stays in the pool. With a thin shared market this can shift the best split a long
way: with two parallel pools on each of two hops, which pool's output feeds which
pool of the next hop depends on the order the paths run in. At a bound (an
inventory or a book side drawn to its end) the search's chunks leave part of it
unused, and the order decides what fits.

The re-balance maximises the split's value with fills run as they execute
(``Splitter.run``, in path order; :class:`~aggregator.router.sequential.Runs`)
by coordinate ascent over pairs of paths:

1. every path's marginal value (output per extra unit in, or minus the input per
   extra unit out) is measured by a forward difference;
2. allocation moves from the path of least marginal value to the path of most
   (the pair with the largest first-order gain, as in sequential minimal
   optimisation) by a line search (``linesearch.py``); a pair a bound blocks gives
   way to the next steepest, and when every pair is blocked near the start, the
   blocked pairs are scanned further out;
3. until the marginal values agree or no move gains.

A start that cannot execute in order (the search filled a bound that executing
path by path overshoots) is first cut back to what fits, as the exact execution
does. Every move is between two paths, so the total stays the same; a path is
never emptied here (which paths pay for their gas is decided in ``selection.py``).
"""

from __future__ import annotations

import math

from aggregator.router.bounds import AT_BOUND, price_inventories
from aggregator.router.curves import INF, FloatBook, FloatTransfer
from aggregator.router.linesearch import line_search, scan
from aggregator.router.sequential import Runs
from aggregator.router.split import Solution, Splitter

__all__ = ["polish", "rescue"]

_H = 1e-7
"""Forward-difference step, as a fraction of the largest allocation."""
_AGREE = 1e-7
"""Marginal values this close (relative) are equal: the split is balanced."""
_NEGLIGIBLE = 1e-6
"""A move gaining less than this fraction of the value ends the re-balance."""
_FIRST_STEP = 0.05
"""First step of a pair's line search, as a fraction of what can move."""
_MOVES_PER_PATH = 4
"""Moves allowed per path in the re-balance."""
_SPREAD = 1e-3
"""Marginal rates this far apart (relative) after the search call for a re-balance."""
_REPAIRS = 8
"""Cuts allowed while making an infeasible start feasible."""
_BISECT = 48
"""Halvings of the amount a repair moves off a path whose cut its takers' fills undo."""
_SCAN = 8
"""Points of the coarse scan of a blocked pair."""
_PAIR_TRIES = 4
"""Pairs tried, steepest first, before the split is taken as balanced."""
_KEEP = 1.0 - 1e-9
"""A source path keeps at least this fraction less than all of its allocation."""


def _shares_market(sp: Splitter, paths: list[int]) -> bool:
    chosen = set(paths)
    return any(k != j and k in chosen for j in paths for k in sp.price_links[j])


def _marginals(runs: Runs, h: float) -> tuple[dict[int, float], dict[int, float]]:
    """Each path's marginal value as a destination (one more unit) and as a source (one
    unit less, measured apart only where one more unit is out of reach)."""
    alloc, f0 = runs.alloc, runs.value
    up: dict[int, float] = {}
    down: dict[int, float] = {}
    for j in runs.order:
        up[j] = down[j] = (runs.value_with({j: alloc[j] + h}) - f0) / h
        if up[j] == -INF and alloc[j] > h:
            down[j] = (f0 - runs.value_with({j: alloc[j] - h})) / h
    return up, down


def _move(
    runs: Runs, src: int, dst: int, slope: float, steps: dict[tuple[int, int], float]
) -> list[float] | bool:
    """The allocation after the best move from ``src`` to ``dst``; if none gains, whether
    a bound blocked the way."""
    sp, alloc, f0 = runs.sp, runs.alloc, runs.value
    a_src, a_dst = alloc[src], alloc[dst]
    # the gas of a path the move opens
    opening = sp.fixed[dst] if sp.forward and a_dst == 0.0 else 0.0

    def phi(t: float) -> float:
        return runs.value_with({src: a_src - t, dst: a_dst + t}) - opening

    first = steps.get((src, dst), _FIRST_STEP * (min(a_src, a_dst) or a_src))
    t, _, blocked = line_search(phi, a_src * _KEEP, f0, slope, first, _NEGLIGIBLE * abs(f0))
    if t <= 0.0:
        return blocked
    steps[(src, dst)] = steps[(dst, src)] = t
    moved = alloc[:]
    moved[src] -= t
    moved[dst] += t
    return moved


def _fits(runs: Runs, k: int) -> float:
    """The largest amount path ``k`` can take after the paths before it (bisection)."""
    sp, st0 = runs.sp, runs.states[runs.pos[k]]
    lo, hi = 0.0, runs.alloc[k]
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if 0.0 <= sp.run(k, mid, st0[:]) < INF:
            lo = mid
        else:
            hi = mid
    return lo * _KEEP


def _bounds(sp: Splitter, k: int) -> frozenset[str]:
    """What bounds path ``k``: the inventories it draws on and the books it trades on."""
    route = sp.routes[k]
    books = {
        h.market_id
        for h, f in zip(route.hops, route.fhops, strict=True)
        if isinstance(f, FloatBook) and h.market_id is not None
    }
    return (route.resources - route.markets) | books


def _shifted(alloc: list[float], k: int, free: list[int], t: float) -> list[float]:
    """``alloc`` with ``t`` moved from path ``k`` to the paths ``free``, in proportion."""
    out = alloc[:]
    out[k] -= t
    weight = sum(alloc[j] for j in free)
    for j in free:
        out[j] += t * alloc[j] / weight
    return out


def _repair(runs: Runs) -> bool:
    """Make an infeasible start feasible, as the exact execution does with rounding
    overshoots: the first path that cannot take its amount is cut to what fits and the
    rest goes to paths that do not draw on its bounds (failing that, to any path not cut
    yet), in proportion.

    When the paths taking the rest run before the cut path on a market it trades on,
    their larger fills leave it less room, so the cut no longer fits (near a pool's
    last units, by far): the amount to move is then found by bisection.
    """
    sp = runs.sp
    cut: set[int] = set()
    for _ in range(_REPAIRS):
        k = runs.failed
        if k < 0:
            return True
        cut.add(k)
        alloc = runs.alloc[:]
        bounds = _bounds(sp, k)
        takers = [j for j in runs.order if j not in cut and alloc[j] > 0.0]
        free = [j for j in takers if not sp.routes[j].resources & bounds] or takers
        if not free:
            return False
        lo = alloc[k] - _fits(runs, k)
        runs.reset(_shifted(alloc, k, free, lo))
        if runs.failed != k:
            continue
        hi = alloc[k] * _KEEP
        runs.reset(_shifted(alloc, k, free, hi))
        if runs.failed == k:
            continue
        for _ in range(_BISECT):
            mid = 0.5 * (lo + hi)
            runs.reset(_shifted(alloc, k, free, mid))
            if runs.failed == k:
                lo = mid
            else:
                hi = mid
        runs.reset(_shifted(alloc, k, free, hi))
    return runs.failed < 0


def _scan(runs: Runs, src: int, dst: int) -> list[float] | None:
    """A move from ``src`` to ``dst`` found by scanning what can move (for a pair a bound
    blocks near the start, whose best move may lie beyond the blocked stretch)."""
    sp, alloc, f0 = runs.sp, runs.alloc, runs.value
    a_src, a_dst = alloc[src], alloc[dst]
    opening = sp.fixed[dst] if sp.forward and a_dst == 0.0 else 0.0

    def phi(t: float) -> float:
        return runs.value_with({src: a_src - t, dst: a_dst + t}) - opening

    found = scan(phi, a_src * _KEEP, f0, _SCAN, _NEGLIGIBLE * abs(f0))
    if found is None:
        return None
    moved = alloc[:]
    moved[src] -= found[0]
    moved[dst] += found[0]
    return moved


def _pair_slopes(runs: Runs, h: float, down: dict[int, float]) -> list[tuple[float, int, int]]:
    """Gainful pairs ``(slope, src, dst)`` by the slope of the move itself, steepest first.

    Where one more unit on a path is out of reach because a later path sharing a market
    with it is then pushed past its bound, the paths' marginal values as sources agree
    although a move between them gains: only the move measures that.
    """
    alloc, f0 = runs.alloc, runs.value
    pairs = []
    for s in runs.order:
        if alloc[s] <= h or not math.isfinite(down[s]):
            continue
        for d in runs.order:
            if d != s:
                slope = (runs.value_with({s: alloc[s] - h, d: alloc[d] + h}) - f0) / h
                if slope > _AGREE * abs(down[s]):
                    pairs.append((slope, s, d))
    return sorted(pairs, reverse=True)


def _ascend(runs: Runs) -> bool:
    """Coordinate ascent over the paths of ``runs`` (see the module docstring), in place;
    True if it stopped with gainful pairs every one of which a bound blocks."""
    order = runs.order
    conflicts = runs.sp.conflicts
    steps: dict[tuple[int, int], float] = {}
    for _ in range(_MOVES_PER_PATH * len(order)):
        h = _H * max(runs.alloc[j] for j in order)
        up, down = _marginals(runs, h)
        # a path at a bound takes more only from a path drawing on the same bound (or a
        # market): its marginal value is then what it gives back when it takes less
        gain = {j: up[j] if math.isfinite(up[j]) else down[j] for j in order}
        pairs = sorted(
            (
                (gain[d] - down[s], s, d)
                for s in order
                if runs.alloc[s] > 0.0 and math.isfinite(down[s])
                for d in order
                if d != s
                and math.isfinite(gain[d])
                and gain[d] - down[s] > _AGREE * abs(gain[d])
                and (math.isfinite(up[d]) or s in conflicts[d])
            ),
            reverse=True,
        )
        if not pairs and not all(math.isfinite(up[j]) for j in order):
            pairs = _pair_slopes(runs, h, down)
        # the steepest pair first; a pair held back by a bound gives way to the next
        blocked = []
        for slope, src, dst in pairs[:_PAIR_TRIES]:
            moved = _move(runs, src, dst, slope, steps)
            if isinstance(moved, list):
                runs.reset(moved)
                break
            if moved:
                blocked.append((src, dst))
        else:
            # held back near the start: a bound may block only part of the way
            for src, dst in blocked:
                scanned = _scan(runs, src, dst)
                if scanned is not None:
                    runs.reset(scanned)
                    break
            else:
                return bool(blocked)
    return False


def _balance(sp: Splitter, alloc: list[float], order: list[int]) -> list[float]:
    """The best split found by :func:`_ascend` from ``alloc``, and by pricing the
    inventories it is stuck against (``bounds.py``)."""
    runs = Runs(sp, order, alloc)
    if runs.value == -INF and not _repair(runs):
        return alloc
    if _ascend(runs):
        priced = price_inventories(sp, runs, _ascend)
        if priced is not None:
            runs.reset(priced)
            _ascend(runs)
    return runs.alloc


def _at_bound(sp: Splitter, sol: Solution) -> bool:
    """Whether an active path drew an inventory or a book side to its end."""
    st, st0 = sol.state, sp.st0
    for j in sol.active:
        for h in sp.routes[j].fhops:
            if isinstance(h, FloatTransfer):
                if st[h.i_cap] <= st0[h.i_cap] * AT_BOUND:
                    return True
            elif isinstance(h, FloatBook) and st[h.i] >= h.total_in * (1.0 - AT_BOUND):
                return True
    return False


def _unbalanced(sp: Splitter, sol: Solution) -> bool:
    """Whether the active paths' marginal rates after the search differ by more than the
    search's resolution explains (a curve steep within one chunk, such as a pool close
    to its last unit for an exact output)."""
    rates = [sp.rate(j, sol.alloc[j] * _H, sol.state) for j in sol.active]
    top = max(rates)
    return top > 0.0 and top - min(rates) > _SPREAD * top


def polish(sp: Splitter, sol: Solution) -> Solution:
    """Re-balance the active paths of a feasible solution for the order fills execute in,
    when some of them share a market or one is at a bound (there the search's chunks
    leave part of the bound unused, and the order fills run in decides what fits), or
    their marginal rates are still apart."""
    active = sol.active
    if len(active) < 2 or not (
        _shares_market(sp, active) or _at_bound(sp, sol) or _unbalanced(sp, sol)
    ):
        return sol
    alloc = _balance(sp, sol.alloc[:], active)
    if alloc == sol.alloc:
        return sol
    return Solution(alloc, sol.last_rate, state=sol.state, rebalanced=True)


def rescue(sp: Splitter, total: float, start: int, members: list[bool]) -> Solution | None:
    """A feasible split from the whole order on path ``start``, with allocation moved to
    the other members while that gains (None if ``start`` alone cannot take the order).

    The search fills the best paths first; when they exhaust an inventory that every
    path needs, the rest of the order finds no room, although a split leaning on a
    path that uses less of it would fit.
    """
    alloc = [0.0] * len(sp.routes)
    alloc[start] = total
    if sp.joint_value(alloc) == -INF:
        return None
    order = [j for j, m in enumerate(members) if m]
    alloc = _balance(sp, alloc, order)
    _, state, _ = sp._start(total, alloc)
    tiny = total * 1e-6
    last = [sp.rate(j, tiny, state) if a > 0.0 else 0.0 for j, a in enumerate(alloc)]
    return Solution(alloc, last, state=state, rebalanced=True)
