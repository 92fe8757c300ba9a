"""Re-balancing paths that share a market, for the order their fills are executed in.

The search lets paths share a market's fills chunk by chunk, as if they traded at
the same time; executed path by path, the earlier path's fill gets the better
price, which can shift the best split a long way when the shared market is thin.
For each pair of active paths sharing a market, a line search on the amount moved
between them maximises the objective with fills run in execution order
(``Splitter.joint_value``).
"""

from __future__ import annotations

import math

from aggregator.router.split import Solution, Splitter

__all__ = ["polish"]

_NEGLIGIBLE = 1e-6
"""Relative gain below which a pair is left as the search split it."""
_TOLERANCE = 1e-6
"""Golden-section search stops when the bracket is this fraction of what can move."""
_PHI = (1.0 + math.sqrt(5.0)) / 2.0
_SWEEPS = 2
"""Passes over the pairs when several pairs share markets."""


def _moved(alloc: list[float], i: int, j: int, amount: float) -> list[float]:
    """``alloc`` with ``amount`` moved from path ``i`` to path ``j``."""
    out = alloc[:]
    out[i] -= amount
    out[j] += amount
    return out


def _line_search(
    sp: Splitter, alloc: list[float], i: int, j: int, direction: float, f0: float
) -> list[float] | None:
    """Golden-section search of the amount moved (in ``direction``) between paths ``i`` and
    ``j``; the better allocation, or None if none beats ``f0``."""
    span = (alloc[i] if direction > 0 else alloc[j]) * (1.0 - 1e-9)

    def g(t: float) -> float:
        return sp.joint_value(_moved(alloc, i, j, direction * t))

    a, b = 0.0, span
    c, d = b - (b - a) / _PHI, a + (b - a) / _PHI
    fc, fd = g(c), g(d)
    while b - a > span * _TOLERANCE:
        if fc < fd:
            a, c, fc = c, d, fd
            d = a + (b - a) / _PHI
            fd = g(d)
        else:
            b, d, fd = d, c, fc
            c = b - (b - a) / _PHI
            fc = g(c)
    t = c if fc >= fd else d
    best = _moved(alloc, i, j, direction * t)
    return best if max(fc, fd) > f0 else None


def polish(sp: Splitter, sol: Solution) -> Solution:
    """Re-balance paths that share a market for the order fills actually run in.

    For each pair of active paths sharing a market, the slope of the objective (fills
    run path by path) in the amount moved between them is measured; unless a parabola
    through three points promises a negligible gain, a golden-section search over what
    can be moved that way finds the best amount.
    """
    active = sol.active
    pairs = [
        (i, j)
        for i in active
        for j in active
        if i < j and sp.routes[i].markets & sp.routes[j].markets
    ]
    if not pairs:
        return sol
    alloc = sol.alloc[:]
    for _ in range(_SWEEPS if len(pairs) > 1 else 1):
        for i, j in pairs:
            h = 1e-4 * min(alloc[i], alloc[j])
            if h <= 0.0:
                continue
            f0 = sp.joint_value(alloc)
            fp = sp.joint_value(_moved(alloc, i, j, h))
            fm = sp.joint_value(_moved(alloc, i, j, -h))
            slope = (fp - fm) / (2.0 * h)
            curvature = (fp + fm - 2.0 * f0) / (h * h)
            if curvature < 0.0 and slope * slope / -curvature < _NEGLIGIBLE * abs(f0):
                continue
            better = _line_search(sp, alloc, i, j, 1.0 if slope > 0 else -1.0, f0)
            if better is not None:
                alloc = better
    return Solution(alloc, sol.last_rate, state=sol.state)
