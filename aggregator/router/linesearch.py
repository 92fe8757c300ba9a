"""One-dimensional maximisation for the re-balance's moves (floats, search only).

:func:`line_search` finds the best step of a move from a known start (value and
slope), :func:`scan` the best step of a move blocked near its start (a bound
reached at once may give way further on); both end with :func:`brent`, Brent's
method (parabolic steps, golden-section fallback) inside a bracket. A value of
-inf marks a step that cannot execute (an inventory or a book exhausted).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from aggregator.router.curves import INF

__all__ = ["brent", "line_search", "scan"]

_XREL = 1e-3
"""Searches stop when the best step is known to this fraction of itself."""
_FINEST = 1e-9
"""Steps are never resolved finer than this fraction of the span."""
_GROW = 4.0
"""Growth of the step while the value keeps rising."""
_MAX_EVALS = 64
"""Bound on the evaluations of each stage of a search."""
_GOLD = (3.0 - math.sqrt(5.0)) / 2.0


def brent(
    phi: Callable[[float], float], a: float, b: float, x: float, fx: float, tol: float
) -> tuple[float, float]:
    """Brent's method maximising ``phi`` on ``[a, b]`` from an interior point ``x`` known
    to beat both ends; returns the best point and its value."""
    w = v = x
    fw = fv = fx
    d = e = 0.0
    for _ in range(_MAX_EVALS):
        m = 0.5 * (a + b)
        if abs(x - m) <= 2.0 * tol - 0.5 * (b - a):
            return x, fx
        use_golden = True
        if abs(e) > tol and fx > -INF and fw > -INF and fv > -INF:
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0.0:  # p and q both change sign when maximising: the test is the same
                p = -p
            q = abs(q)
            if abs(p) < abs(0.5 * q * e) and q * (a - x) < p < q * (b - x):
                e, d = d, p / q
                u = x + d
                if u - a < 2.0 * tol or b - u < 2.0 * tol:
                    d = tol if x < m else -tol
                use_golden = False
        if use_golden:
            e = (a - x) if x >= m else (b - x)
            d = _GOLD * e
        u = x + (d if abs(d) >= tol else (tol if d > 0.0 else -tol))
        fu = phi(u)
        if fu >= fx:
            if u >= x:
                a = x
            else:
                b = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu >= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu >= fv or v in (x, w):
                v, fv = u, fu
    return x, fx


def line_search(
    phi: Callable[[float], float],
    span: float,
    f0: float,
    slope: float,
    first: float,
    floor: float,
) -> tuple[float, float, bool]:
    """Best step in ``(0, span]`` for ``phi`` (``phi(0) = f0``, rising at 0 with ``slope``)
    and its value; a step of 0 if no step gains more than ``floor``, then with whether a
    bound (-inf) was met on the way (the move is blocked rather than done).

    A parabola through the value and slope at 0 and the value at ``first`` predicts the
    gain (none if negligible) and the best step; the step then grows while the value
    rises (or shrinks while none beats 0), and Brent's method finds the best step inside
    the bracket. A best step against a bound (the value falls off a cliff to -inf just
    after it) is refined by bisection, since there the loss is linear in the error.
    """
    cliff = INF

    def at(t: float) -> float:
        nonlocal cliff
        v = phi(t)
        if v == -INF and t < cliff:
            cliff = t
        return v

    t1 = min(first, span)
    f1 = at(t1)
    guess = t1 * _GOLD
    if f1 > -INF:
        c = (f1 - f0 - slope * t1) / (t1 * t1)
        if c < 0.0:
            if slope * slope / (-4.0 * c) <= floor and f1 - f0 <= floor:
                return 0.0, f0, False
            guess = min(span, slope / (-2.0 * c))
        else:
            guess = min(span, t1 * _GROW)
    pts = [(0.0, f0), (t1, f1)]
    if guess != t1:
        pts.append((guess, at(guess)))
    for _ in range(_MAX_EVALS):
        pts.sort()
        k = max(range(len(pts)), key=lambda i: pts[i][1])
        t, ft = pts[k]
        if k == len(pts) - 1:
            if t >= span:
                break
            nxt = min(span, t * _GROW)
            pts.append((nxt, at(nxt)))
        elif k == 0:
            nxt = pts[1][0] * _GOLD
            if slope * nxt <= floor:
                # a step this short cannot gain more (the value is concave near 0)
                return 0.0, f0, cliff < INF
            pts.append((nxt, at(nxt)))
        else:
            tol = max(t * _XREL, span * _FINEST)
            t, ft = brent(at, pts[k - 1][0], pts[k + 1][0], t, ft, tol)
            break
    else:
        t, ft = max(pts, key=lambda p: p[1])
    if t < cliff <= t + 8.0 * max(t * _XREL, span * _FINEST):
        lo, hi = t, cliff
        while hi - lo > span * _FINEST:
            mid = 0.5 * (lo + hi)
            fm = phi(mid)
            if fm == -INF:
                hi = mid
            elif fm >= ft:
                lo, ft = mid, fm
            else:
                break
        t = lo
    return (t, ft, False) if ft - f0 > floor else (0.0, f0, cliff < INF)


def scan(
    phi: Callable[[float], float], span: float, f0: float, points: int, floor: float
) -> tuple[float, float] | None:
    """Best step in ``(0, span]`` from ``points`` evenly spaced steps, refined by Brent's
    method around the best; None if none gains more than ``floor`` over ``f0``."""
    grid = [(span * k / points, phi(span * k / points)) for k in range(1, points + 1)]
    k = max(range(points), key=lambda i: grid[i][1])
    t, ft = grid[k]
    if ft - f0 <= floor:
        return None
    lo = grid[k - 1][0] if k else 0.0
    hi = grid[k + 1][0] if k + 1 < points else span
    return brent(phi, lo, hi, t, ft, max(t * _XREL, span * _FINEST))
