"""A split's paths run one after the other, as they execute, over the float state.

:class:`Runs` caches the state before each path, so the value of a change to one
path re-runs only the paths from it on: the re-balance's marginal values and line
searches evaluate many such changes of one allocation.
"""

from __future__ import annotations

from aggregator.router.curves import INF
from aggregator.router.split import Splitter

__all__ = ["Runs"]


class Runs:
    """The paths of ``order`` run in execution order from ``alloc``, with the state before
    each path cached, so a change to one path re-runs only the paths from it on."""

    __slots__ = ("alloc", "before", "failed", "order", "pos", "sp", "states", "value")

    def __init__(self, sp: Splitter, order: list[int], alloc: list[float]) -> None:
        self.sp = sp
        self.order = order
        self.pos = {j: p for p, j in enumerate(order)}
        self.alloc = alloc
        self.states: list[list[float]] = []
        self.before: list[float] = []
        self.value = -INF
        self.failed = -1
        """The path that could not take its amount (-1 if none)."""
        self.reset(alloc)

    def reset(self, alloc: list[float]) -> None:
        sp = self.sp
        self.alloc = alloc
        st = sp.st0[:]
        states, before = [], []
        total = 0.0
        self.failed = -1
        for j in self.order:
            states.append(st[:])
            before.append(total)
            a = alloc[j]
            if a > 0.0 and total != -INF:
                v = sp.run(j, a, st)
                if 0.0 <= v < INF:
                    total += v
                else:
                    total, self.failed = -INF, j
        self.states, self.before = states, before
        self.value = total if sp.forward or total == -INF else -total

    def value_with(self, changes: dict[int, float]) -> float:
        """Value (output, or minus the input) with the paths in ``changes`` given new
        amounts; -inf if a path cannot take its amount."""
        sp = self.sp
        order, alloc = self.order, self.alloc
        p0 = min(self.pos[j] for j in changes)
        st = self.states[p0][:]
        total = self.before[p0]
        if total == -INF:
            return -INF
        for p in range(p0, len(order)):
            j = order[p]
            a = changes.get(j, alloc[j])
            if a > 0.0:
                v = sp.run(j, a, st)
                if not 0.0 <= v < INF:
                    return -INF
                total += v
        return total if sp.forward else -total
