"""A split's paths run one after the other, as they execute, over the float state.

:class:`Runs` caches the state before each path, so the value of a change to one
path re-runs only the paths from it on: the re-balance's marginal values and line
searches evaluate many such changes of one allocation.

Given ``prices``, the inventories in it are not limits but cost that price per
unit drawn (a Lagrangian relaxation of their limits, see ``bounds.py``): their
state slots start lifted far above what any fill draws, and the value is the
output (or minus the input) less what was drawn times its price.
"""

from __future__ import annotations

from collections.abc import Mapping

from aggregator.router.curves import INF
from aggregator.router.split import Splitter

__all__ = ["Runs"]


class Runs:
    """The paths of ``order`` run in execution order from ``alloc``, with the state before
    each path cached, so a change to one path re-runs only the paths from it on."""

    __slots__ = (
        "alloc",
        "before",
        "failed",
        "final",
        "last",
        "order",
        "pos",
        "prices",
        "sp",
        "start",
        "states",
        "value",
    )

    def __init__(
        self,
        sp: Splitter,
        order: list[int],
        alloc: list[float],
        prices: Mapping[int, float] | None = None,
    ) -> None:
        self.sp = sp
        self.order = order
        self.pos = {j: p for p, j in enumerate(order)}
        self.prices = dict(prices or {})
        self.start = sp.st0[:]
        for slot in self.prices:
            # far above what the order can draw, yet small enough to keep float precision
            self.start[slot] += sp.st0[slot] * 1e3 + sum(alloc) * 1e6
        self.alloc = alloc
        self.states: list[list[float]] = []
        self.before: list[float] = []
        self.final: list[float] = []
        """The state after every path."""
        self.last: list[float] = []
        """The state after every path in the last :meth:`value_with`."""
        self.value = -INF
        self.failed = -1
        """The path that could not take its amount (-1 if none)."""
        self.reset(alloc)

    def drawn(self, slot: int, st: list[float] | None = None) -> float:
        """What the paths drew from inventory ``slot`` (by ``alloc`` unless another final
        state is given)."""
        return self.start[slot] - (self.final if st is None else st)[slot]

    def _finish(self, total: float, st: list[float]) -> float:
        if total == -INF:
            return -INF
        value = total if self.sp.forward else -total
        for slot, price in self.prices.items():
            value -= price * (self.start[slot] - st[slot])
        return value

    def reset(self, alloc: list[float]) -> None:
        sp = self.sp
        self.alloc = alloc
        st = self.start[:]
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
        self.states, self.before, self.final = states, before, st
        self.value = self._finish(total, st)

    def value_with(self, changes: dict[int, float]) -> float:
        """Value (output, or minus the input, less priced inventory) with the paths in
        ``changes`` given new amounts; -inf if a path cannot take its amount."""
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
        self.last = st
        return self._finish(total, st)
