"""The split: allocate an order across candidate paths so that marginal rates are equal.

Search, in floats (the amounts are recomputed exactly afterwards):

1. Greedy water-filling: the order is cut into ``search_chunks`` chunks and each
   chunk goes to the path with the best rate for it *at the current joint state*
   (paths sharing a market or an inventory see each other's fills). For concave
   paths this leaves every path within one chunk of the optimum.
2. Refinement: one chunk is taken back from every path and the freed amount is
   re-allocated with chunks ``search_refine`` times smaller, ``search_levels``
   times, so rates end up equal to a small fraction of the order. A warm start
   from a known floor (e.g. the split with one more path) allocates only the rest.

Rates cached for a path stay valid until a fill moves one of its markets; a
shared inventory only bounds what fits, so a fill that no longer fits is undone
and the path's rate computed again. Fixed costs, minimum sizes and the choice of
paths are in ``selection.py``; the re-balancing of paths sharing a market in
``rebalance.py``.

Exact input allocates input and maximises output; exact output allocates gross
output (the request plus the gas of the paths used, which opening a path adds)
and minimises input. Capacity (book depth, inventory) bounds what a path takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aggregator.router.config import RouterConfig
from aggregator.router.curves import INF
from aggregator.router.fused import Op
from aggregator.router.prepared import RoutePath

__all__ = ["Solution", "Splitter"]

_FORWARD = (Op.FWD, Op.FWD_COMMIT, Op.FWD_EXEC)
_BACKWARD = (Op.BWD, Op.BWD_COMMIT, Op.BWD_EXEC)
_Entry = tuple[float, float, bool]
"""(amount a path can take of the chunk, its rate, whether that amount is its last)."""


@dataclass(slots=True)
class Solution:
    """An allocation per path (input, or gross output for exact output)."""

    alloc: list[float]
    last_rate: list[float]
    shortfall: float = 0.0
    state: list[float] = field(default_factory=list)
    """The joint state after every fill (empty when infeasible)."""
    rebalanced: bool = False
    """Whether the allocation was re-balanced for execution order (``rebalance.py``)."""

    @property
    def feasible(self) -> bool:
        return self.shortfall == 0.0

    @property
    def active(self) -> list[int]:
        return [j for j, a in enumerate(self.alloc) if a > 0.0]


class Splitter:
    """Optimises one request's split over compiled routes (see the module docstring)."""

    def __init__(
        self,
        routes: Sequence[RoutePath],
        st0: list[float],
        config: RouterConfig,
        *,
        forward: bool,
    ) -> None:
        self.routes = routes
        self.st0 = st0
        self.cfg = config
        self.forward = forward
        n = len(routes)
        self.fixed = [r.fixed_cost for r in routes]
        resources = [r.resources for r in routes]
        markets = [r.markets for r in routes]
        self.conflicts = [
            [k for k in range(n) if not resources[k].isdisjoint(resources[j])] for j in range(n)
        ]
        self.price_links = [
            [k for k in range(n) if k == j or not markets[k].isdisjoint(markets[j])]
            for j in range(n)
        ]
        """Paths whose rates a fill on path j moves (shared markets); a shared inventory only
        bounds what fits, which is checked again before a cached rate is used."""
        self.mins = [r.mins for r in routes]
        ops = _FORWARD if forward else _BACKWARD
        self._probe = [r.fused(ops[0]) for r in routes]
        self._commit_fn = [r.fused(ops[1]) for r in routes]
        self._run = [r.fused(ops[2]) for r in routes]
        """Each path's hops fused per operation (``fused.py``), in the order they run."""
        self._tol = 0.0

    # -- path primitives ----------------------------------------------------------------

    def probe(self, j: int, amount: float, st: list[float]) -> float:
        """Output for ``amount`` in (forward) or input for ``amount`` out; -1 / inf if out of
        reach."""
        return self._probe[j](amount, st)

    def rate(self, j: int, amount: float, st: list[float]) -> float:
        """Output per input for ``amount``; -1 if the path cannot take it."""
        v = self._probe[j](amount, st)
        if self.forward:
            return v / amount if v >= 0.0 else -1.0
        return amount / v if 0.0 < v < INF else -1.0

    def _commit(self, j: int, amount: float, st: list[float]) -> bool:
        """Apply path ``j``'s fill to ``st``; False if a hop could not take it (``st`` is
        then partly changed: the caller restores it)."""
        v = self._commit_fn[j](amount, st)
        return v >= 0.0 if self.forward else v != INF

    def run(self, j: int, amount: float, st: list[float]) -> float:
        """Path ``j``'s fill as it executes (one swap per leg, after the fills already in
        ``st``), applied to ``st``: output for ``amount`` in (forward) or input for
        ``amount`` out; -1 / inf if out of reach (``st`` is then partly changed)."""
        return self._run[j](amount, st)

    def _evaluate(self, j: int, chunk: float, st: list[float]) -> _Entry:
        v = self.probe(j, chunk, st)
        if self.forward:
            if v >= 0.0:
                return chunk, v / chunk, False
        elif 0.0 < v < INF:
            return chunk, chunk / v, False
        lo, hi = 0.0, chunk
        for _ in range(32):
            mid = (lo + hi) / 2
            if self.rate(j, mid, st) >= 0.0:
                lo = mid
            else:
                hi = mid
        lo *= 1.0 - 1e-9  # stay clear of the bound once amounts are rounded to integers
        if lo <= chunk * 1e-9:
            return 0.0, -1.0, True
        return lo, self.rate(j, lo, st), True

    # -- search -------------------------------------------------------------------------

    def _greedy(
        self,
        members: list[bool],
        alloc: list[float],
        last: list[float],
        st: list[float],
        remaining: float,
        chunk: float,
    ) -> float:
        n = len(alloc)
        forward, fixed, links, tol = self.forward, self.fixed, self.price_links, self._tol
        probe, commit, evaluate = self._probe, self._commit_fn, self._evaluate
        # per path: the amount it can take of the chunk, its rate, whether that is its last
        # (rate None: to be evaluated at the current state)
        amounts = [0.0] * n
        rates: list[float | None] = [None] * n
        final = [False] * n
        cache_chunk = chunk
        live = [j for j in range(n) if members[j]]
        while remaining > tol:
            c = chunk if remaining > chunk else remaining
            if c != cache_chunk:
                rates = [None] * n
                cache_chunk = c
            best, best_rate = -1, 0.0
            for j in live:
                r = rates[j]
                if r is None:
                    v = probe[j](c, st)
                    if forward and v >= 0.0:
                        amounts[j], r, final[j] = c, v / c, False
                    elif not forward and 0.0 < v < INF:
                        amounts[j], r, final[j] = c, c / v, False
                    else:
                        amounts[j], r, final[j] = evaluate(j, c, st)
                    rates[j] = r
                if r > best_rate:
                    best, best_rate = j, r
            if best < 0:
                break
            amount = amounts[best]
            saved = st[:]
            v = commit[best](amount, st)
            if (v < 0.0) if forward else (v == INF):
                # an inventory it shares was drawn on since its rate was cached
                st[:] = saved
                amounts[best], rates[best], final[best] = evaluate(best, c, st)
                continue
            if not forward and alloc[best] == 0.0:
                remaining += fixed[best]
            alloc[best] += amount
            last[best] = best_rate
            remaining -= amount
            if final[best]:
                members[best] = False
                live.remove(best)
            for k in links[best]:
                rates[k] = None
        return max(remaining, 0.0) if remaining > tol else 0.0

    def _single_dominates(self, a: int, amount: float, members: list[bool], step: float) -> bool:
        """True if no other path's first unit beats the last unit of path ``a``."""
        st = self.st0
        v_hi, v_lo = self.probe(a, amount, st), self.probe(a, amount - step, st)
        if self.forward:
            r_end = (v_hi - v_lo) / step if v_lo >= 0.0 else 0.0
        else:
            r_end = step / (v_hi - v_lo) if v_hi < INF and v_hi > v_lo else INF
        tiny = step / 64
        return all(
            k == a or not members[k] or self.rate(k, tiny, st) <= r_end
            for k in range(len(self.routes))
        )

    def _alone(self, j: int, total: float) -> Solution:
        """The whole order on path ``j``."""
        n = len(self.routes)
        amount = total if self.forward else total + self.fixed[j]
        alloc, last = [0.0] * n, [0.0] * n
        st = self.st0[:]
        rate = self.rate(j, amount, st)
        if rate < 0.0:
            return Solution(alloc, last, shortfall=total)
        self._commit(j, amount, st)
        alloc[j], last[j] = amount, rate
        return Solution(alloc, last, state=st)

    def _start(self, total: float, base: list[float]) -> tuple[list[float], list[float], float]:
        """State and amount left after committing ``base`` (opening costs included)."""
        st = self.st0[:]
        remaining = total
        for j, amount in enumerate(base):
            if amount > 0.0:
                self._commit(j, amount, st)
                remaining -= amount
                if not self.forward:
                    remaining += self.fixed[j]
        return base, st, remaining

    def solve(self, total: float, members: list[bool], warm: list[float] | None = None) -> Solution:
        """Greedy allocation refined down to ``total / resolution``.

        ``warm`` starts from an allocation every path's optimum is known to be at least (e.g.
        a solution with more paths, restricted to ``members``): only the rest is allocated.
        """
        n = len(self.routes)
        cfg = self.cfg
        self._tol = total * 1e-12
        only = [j for j in range(n) if members[j]]
        if len(only) == 1:
            return self._alone(only[0], total)
        finest = total / (cfg.search_chunks * cfg.search_refine**cfg.search_levels)
        last = [0.0] * n
        base = [0.0] * n if warm is None else [a if members[j] else 0.0 for j, a in enumerate(warm)]
        alloc, st, remaining = self._start(total, base)
        if remaining < 0.0:
            # for an exact output the gross shrinks by a dropped path's gas, which may be
            # more than its share: the others' warm shares are then no floor
            alloc, st, remaining = self._start(total, [0.0] * n)
        chunk = max(remaining / cfg.search_chunks, finest)
        short = self._greedy(members[:], alloc, last, st, remaining, chunk)
        if short:
            return Solution(alloc, last, short)
        while chunk > finest * 1.000001:
            fine = max(chunk / cfg.search_refine, finest)
            active = [j for j in range(n) if alloc[j] > 0.0]
            if len(active) == 1 and self._single_dominates(
                active[0], alloc[active[0]], members, fine
            ):
                break
            alloc, st, remaining = self._start(
                total, [a - chunk if a > chunk else 0.0 for a in alloc]
            )
            short = self._greedy(members[:], alloc, last, st, remaining, fine)
            if short:
                return Solution(alloc, last, short)
            chunk = fine
        for j in range(n):
            if alloc[j] > 0.0 and last[j] == 0.0:
                # kept its warm share and took none of the rest: its rate for one more chunk
                last[j] = max(self.rate(j, finest, st), 0.0)
        return Solution(alloc, last, state=st)

    # -- fixed costs, minimum sizes, single paths ---------------------------------------

    def below_min(self, j: int, amount: float) -> bool:
        mins = self.mins[j]
        if not mins:
            return False
        hops = self.routes[j].fhops
        st = self.st0
        amounts = [0.0] * (len(hops) + 1)
        if self.forward:
            amounts[0] = amount
            for k, h in enumerate(hops):
                amounts[k + 1] = h.fwd(amounts[k], st)
        else:
            amounts[-1] = amount
            for k in range(len(hops) - 1, -1, -1):
                amounts[k] = hops[k].bwd(amounts[k + 1], st)
        return any(
            (amounts[k] if sell else amounts[k + 1]) < min_base for k, min_base, sell in mins
        )

    def joint(self, sol: Solution, skip: int = -1) -> float:
        """Total output (forward) or input (backward) of the solution's paths run in order
        as they execute, leaving out path ``skip``."""
        st = self.st0[:]
        total = 0.0
        for j in sol.active:
            if j != skip:
                total += self.run(j, sol.alloc[j], st)
        return total

    def value(self, sol: Solution) -> float:
        """Net output (forward) or minus the input (backward) of a solution; higher is better."""
        joint = self.joint(sol)
        if self.forward:
            return joint - sum(self.fixed[j] for j in sol.active)
        return -joint

    def joint_value(self, alloc: list[float]) -> float:
        """Objective of an allocation with fills run path by path (the execution order):
        total output (forward) or minus total input (backward); -inf if infeasible."""
        st = self.st0[:]
        total = 0.0
        for j, amount in enumerate(alloc):
            if amount > 0.0:
                v = self.run(j, amount, st)
                if v < 0.0 or v == INF:
                    return -INF
                total += v
        return total if self.forward else -total

    def best_single(self, total: float, members: list[bool]) -> int | None:
        best, best_value = None, -INF
        for j in range(len(self.routes)):
            if not members[j]:
                continue
            amount = total if self.forward else total + self.fixed[j]
            v = self.probe(j, amount, self.st0)
            if (v < 0.0 or v == INF) or self.below_min(j, amount):
                continue
            value = v - self.fixed[j] if self.forward else -v
            if value > best_value:
                best, best_value = j, value
        return best
