"""Float curves for the optimizer's search (never for promised amounts).

Each hop of a path gets a small float model over a shared, mutable state vector
(a ``list[float]``), so that fills on one market by several paths are simulated
jointly: an AMM's two reserves, a book side's consumed input and the gross
output it paid, a transfer's remaining inventory each occupy state slots.

Every model answers four questions:

* ``fwd(x, st)``: output for input ``x`` at the current state, ``-1.0`` if the
  hop cannot absorb ``x`` (book depth or inventory exhausted);
* ``fwd_commit(x, st)``: the same, and the fill is applied to ``st``;
* ``bwd(y, st)``: input needed for output ``y``, ``inf`` if out of reach;
* ``bwd_commit(y, st)``: the same, applied to ``st``;
* ``fwd_exec(x, st)`` / ``bwd_exec(y, st)``: commits as a separate execution
  leaves the market (differs from ``*_commit`` for pools only, see
  :class:`FloatAmm`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from aggregator.models.liquidity import AmmCurve
from aggregator.models.units import BPS

__all__ = ["INF", "FloatAmm", "FloatBook", "FloatHop", "FloatTransfer", "amm_slots"]

INF = float("inf")
_EPS = 1e-12
"""Relative slack of bound checks, far below the margin the search keeps from a bound, so
that re-running committed fills in another order does not trip over float rounding."""
_SLACK = 1.0 + _EPS


class FloatAmm:
    """One direction of a constant-product pool; reserves live in ``st[i_in]``, ``st[i_out]``.

    A search fill (``*_commit``) adds only its fee-less input to the reserve, so
    successive chunks add up to exactly one fill of their total (the way a path's share
    executes: one swap). The pool contract keeps the fee in the reserve, which makes
    separate swaps by several paths pay slightly less than one swap of their total:
    ``*_exec`` commits that way, for fills run path by path as they execute.
    """

    __slots__ = ("g", "i_in", "i_out")

    def __init__(self, i_in: int, i_out: int, fee_bps: int) -> None:
        self.i_in = i_in
        self.i_out = i_out
        self.g = (BPS - fee_bps) / BPS

    def fwd(self, x: float, st: list[float]) -> float:
        xg = x * self.g
        return xg * st[self.i_out] / (st[self.i_in] + xg)

    def fwd_commit(self, x: float, st: list[float]) -> float:
        out = self.fwd(x, st)
        st[self.i_in] += x * self.g
        st[self.i_out] -= out
        return out

    def fwd_exec(self, x: float, st: list[float]) -> float:
        i_in, i_out = self.i_in, self.i_out
        r_in = st[i_in]
        xg = x * self.g
        out = xg * st[i_out] / (r_in + xg)
        st[i_in] = r_in + x
        st[i_out] -= out
        return out

    def bwd(self, y: float, st: list[float]) -> float:
        r_out = st[self.i_out]
        if y >= r_out:
            return INF
        return st[self.i_in] * y / ((r_out - y) * self.g)

    def bwd_commit(self, y: float, st: list[float]) -> float:
        x = self.bwd(y, st)
        if x != INF:
            st[self.i_in] += x * self.g
            st[self.i_out] -= y
        return x

    def bwd_exec(self, y: float, st: list[float]) -> float:
        x = self.bwd(y, st)
        if x != INF:
            st[self.i_in] += x
            st[self.i_out] -= y
        return x


class FloatBook:
    """One side of an order book as a piecewise-linear curve of cumulative input to output.

    ``st[i]`` is the input already consumed on this side, ``st[i + 1]`` the gross output it
    paid, so a fill only needs one bisection.
    """

    __slots__ = ("cum_in", "cum_out", "f", "i", "rates", "total_in", "total_out")

    def __init__(self, i: int, cum_in: list[float], cum_out: list[float], fee_bps: int) -> None:
        self.i = i
        self.cum_in = cum_in
        self.cum_out = cum_out
        self.rates = [
            (cum_out[k + 1] - cum_out[k]) / (cum_in[k + 1] - cum_in[k])
            for k in range(len(cum_in) - 1)
        ]
        self.total_in = cum_in[-1]
        self.total_out = cum_out[-1]
        self.f = (BPS - fee_bps) / BPS

    @classmethod
    def from_levels(
        cls, i: int, levels: Sequence[tuple[int, int, int]], sell: bool, fee_bps: int
    ) -> FloatBook:
        """From exact levels ``(price numerator, price denominator, size)`` in base units,
        best first (the bids when ``sell``, else the asks)."""
        cum_in = [0.0]
        cum_out = [0.0]
        for num, den, size in levels:
            quote = num / den * size
            if sell:
                cum_in.append(cum_in[-1] + size)
                cum_out.append(cum_out[-1] + quote)
            else:
                cum_in.append(cum_in[-1] + quote)
                cum_out.append(cum_out[-1] + size)
        return cls(i, cum_in, cum_out, fee_bps)

    def at_slot(self, i: int) -> FloatBook:
        """The same curve over state slots from ``i`` (another snapshot's layout)."""
        out = FloatBook.__new__(FloatBook)
        for name in FloatBook.__slots__:
            setattr(out, name, getattr(self, name))
        out.i = i
        return out

    def _gross(self, z: float) -> float:
        k = bisect_right(self.cum_in, z) - 1
        if k >= len(self.rates):
            return self.total_out
        return self.cum_out[k] + (z - self.cum_in[k]) * self.rates[k]

    def _input_for(self, w: float) -> float:
        k = bisect_left(self.cum_out, w) - 1
        k = max(0, min(k, len(self.rates) - 1))
        return self.cum_in[k] + (w - self.cum_out[k]) / self.rates[k]

    def fwd(self, x: float, st: list[float]) -> float:
        z = st[self.i] + x
        if z > self.total_in * _SLACK:
            return -1.0
        return (self._gross(z) - st[self.i + 1]) * self.f

    def fwd_commit(self, x: float, st: list[float]) -> float:
        z = st[self.i] + x
        if z > self.total_in * _SLACK:
            return -1.0
        gross = self._gross(z)
        out = (gross - st[self.i + 1]) * self.f
        st[self.i] = z
        st[self.i + 1] = gross
        return out

    def bwd(self, y: float, st: list[float]) -> float:
        w = st[self.i + 1] + y / self.f
        if w > self.total_out * _SLACK or not self.rates:
            return INF
        return self._input_for(w) - st[self.i]

    def bwd_commit(self, y: float, st: list[float]) -> float:
        x = self.bwd(y, st)
        if x != INF:
            st[self.i] += x
            st[self.i + 1] += y / self.f
        return x

    fwd_exec = fwd_commit
    bwd_exec = bwd_commit


class FloatTransfer:
    """A transfer fronted from inventory: ``st[i_cap]`` is what is left at the destination."""

    __slots__ = ("f", "i_cap")

    def __init__(self, i_cap: int, bps: int) -> None:
        self.i_cap = i_cap
        self.f = (BPS - bps) / BPS

    def fwd(self, x: float, st: list[float]) -> float:
        out = x * self.f
        return -1.0 if out > st[self.i_cap] + out * _EPS else out

    def fwd_commit(self, x: float, st: list[float]) -> float:
        out = x * self.f
        if out > st[self.i_cap] + out * _EPS:
            return -1.0
        st[self.i_cap] -= out
        return out

    def bwd(self, y: float, st: list[float]) -> float:
        return INF if y > st[self.i_cap] + y * _EPS else y / self.f

    def bwd_commit(self, y: float, st: list[float]) -> float:
        if y > st[self.i_cap] + y * _EPS:
            return INF
        st[self.i_cap] -= y
        return y / self.f

    fwd_exec = fwd_commit
    bwd_exec = bwd_commit


FloatHop = FloatAmm | FloatBook | FloatTransfer


def amm_slots(curve: AmmCurve) -> tuple[float, float]:
    """Initial state of a pool's two slots (base reserve, quote reserve)."""
    return float(curve.reserve_base), float(curve.reserve_quote)
