"""Exact integer models of one hop: the venues' own integer formulas, over a shared state.

A pool's reserves move by exactly what Uniswap v2 moves them by; a book fill
starts where the previous fill on that side stopped (each fill floors per level
and pays the taker fee on its own, as separate orders would); a transfer draws on
the destination's inventory. ``fwd`` is a leg's output for its input (``None`` if
the hop cannot absorb it); ``bwd`` the least input whose output reaches a target.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from aggregator.models.units import BPS

__all__ = [
    "ExactAmm",
    "ExactBook",
    "ExactHop",
    "ExactState",
    "ExactTransfer",
    "fee_off",
    "fee_on",
]


def fee_off(amount: int, bps: int) -> int:
    """What is left of ``amount`` after a proportional fee rounded up."""
    return amount - (amount * bps + BPS - 1) // BPS


def fee_on(net: int, bps: int) -> int:
    """Smallest gross amount whose :func:`fee_off` is at least ``net``."""
    if bps == 0 or net <= 0:
        return max(net, 0)
    gross = -(-net * BPS // (BPS - bps))
    while fee_off(gross, bps) < net:
        gross += 1
    while gross > 0 and fee_off(gross - 1, bps) >= net:
        gross -= 1
    return gross


class ExactState:
    """Mutable state of one simulation: pool reserves, book cursors, inventory left."""

    __slots__ = ("amm", "book", "cap")

    def __init__(self, caps: dict[str, int]) -> None:
        self.amm: dict[str, tuple[int, int]] = {}
        self.book: dict[str, tuple[int, int]] = {}
        self.cap = dict(caps)


class ExactAmm:
    """One direction of a pool, with Uniswap v2's ``getAmountOut``/``getAmountIn``."""

    __slots__ = ("fee", "key", "min_base", "reserves", "resource", "sell")

    def __init__(
        self, key: str, sell: bool, reserve_base: int, reserve_quote: int, fee: int, min_base: int
    ) -> None:
        self.key = key
        self.resource = key
        """What paths share when they use this hop: the pool (its market id)."""
        self.sell = sell
        self.reserves = (reserve_base, reserve_quote)
        self.fee = fee
        self.min_base = min_base

    def fwd(self, x: int, st: ExactState, commit: bool = True) -> int | None:
        rb, rq = st.amm.get(self.key, self.reserves)
        r_in, r_out = (rb, rq) if self.sell else (rq, rb)
        if x <= 0:
            return 0
        with_fee = x * (BPS - self.fee)
        out = with_fee * r_out // (r_in * BPS + with_fee)
        if commit:
            st.amm[self.key] = (rb + x, rq - out) if self.sell else (rb - out, rq + x)
        return out

    def bwd(self, y: int, st: ExactState) -> int | None:
        rb, rq = st.amm.get(self.key, self.reserves)
        r_in, r_out = (rb, rq) if self.sell else (rq, rb)
        if y <= 0:
            return 0
        if y >= r_out:
            return None
        estimate = r_in * y * BPS // ((r_out - y) * (BPS - self.fee)) + 1
        return _min_input(self, y, st, estimate)


class ExactBook:
    """One side of an order book, filled from where earlier fills in the run stopped.

    A fill walks the levels as :meth:`OrderBook.amount_out` does (per-level flooring,
    lots, the taker fee on the total), from a cursor (level, size used there); whole
    levels are summed from prefix sums, so a fill costs a bisection, not a walk.
    """

    __slots__ = ("cum_in", "cum_out", "fee", "key", "levels", "lot", "min_base", "resource", "sell")

    def __init__(
        self,
        key: str,
        sell: bool,
        levels: list[tuple[int, int, int]],
        lot: int,
        fee: int,
        min_base: int,
    ) -> None:
        self.key = key
        self.resource = key.rsplit(":", 1)[0]
        """What paths share when they use this hop: the market id."""
        self.sell = sell
        self.levels = levels
        """(price numerator, price denominator, size) in base units, best first."""
        self.lot = lot
        self.fee = fee
        self.min_base = min_base
        self.cum_in = [0]
        """Input that takes every level before index i whole."""
        self.cum_out = [0]
        """What those whole levels pay (before the fee)."""
        for num, den, size in levels:
            if sell:
                self.cum_in.append(self.cum_in[-1] + size)
                self.cum_out.append(self.cum_out[-1] + size * num // den)
            else:
                self.cum_in.append(self.cum_in[-1] - (-size * num // den))
                self.cum_out.append(self.cum_out[-1] + size)

    def fwd(self, x: int, st: ExactState, commit: bool = True) -> int | None:
        if x <= 0:
            return 0
        i, used = st.book.get(self.key, (0, 0))
        levels = self.levels
        n = len(levels)
        lot = self.lot
        remaining = x - x % lot if self.sell else x
        out = 0
        if used:
            # the level an earlier fill stopped in
            num, den, size = levels[i]
            avail = size - used
            if self.sell:
                take = min(avail, remaining)
                out += take * num // den
                remaining -= take
                used += take
                if used == size:
                    i, used = i + 1, 0
            else:
                cost = -(-avail * num // den)
                if remaining >= cost:
                    out += avail
                    remaining -= cost
                    i, used = i + 1, 0
                else:
                    take = remaining * den // num
                    take -= take % lot
                    out += take
                    used += take
                    remaining = 0
        if remaining > 0:
            cum_in = self.cum_in
            j = bisect_right(cum_in, cum_in[i] + remaining, i) - 1
            out += self.cum_out[j] - self.cum_out[i]
            remaining -= cum_in[j] - cum_in[i]
            i = j
            if remaining > 0:
                if i >= n:
                    return None
                num, den, _ = levels[i]
                if self.sell:
                    take = remaining
                else:
                    take = remaining * den // num
                    take -= take % lot
                out += take * num // den if self.sell else take
                used = take
        if commit:
            st.book[self.key] = (i, used)
        return fee_off(out, self.fee)

    def bwd(self, y: int, st: ExactState) -> int | None:
        if y <= 0:
            return 0
        need = fee_on(y, self.fee)
        i, used = st.book.get(self.key, (0, 0))
        levels = self.levels
        if i >= len(levels):
            return None
        spent = 0
        if used:
            num, den, size = levels[i]
            avail = size - used
            full = avail * num // den if self.sell else avail
            if full >= need:
                return _min_input(self, y, st, self._cover(need, num, den))
            need -= full
            spent += avail if self.sell else -(-avail * num // den)
            i += 1
        # whole levels up to the one that covers what is still needed
        cum_in, cum_out = self.cum_in, self.cum_out
        m = bisect_left(cum_out, cum_out[i] + need, i)
        if m >= len(cum_out):
            return None
        spent += cum_in[m - 1] - cum_in[i]
        need -= cum_out[m - 1] - cum_out[i]
        num, den, _ = levels[m - 1]
        return _min_input(self, y, st, spent + self._cover(need, num, den))

    def _cover(self, need: int, num: int, den: int) -> int:
        """Input for ``need`` (gross) out of one level at price ``num / den``."""
        return -(-need * den // num) if self.sell else -(-need * num // den)


class ExactTransfer:
    """A transfer fronted from the destination's inventory (``key``), less ``bps``."""

    __slots__ = ("bps", "key", "min_base", "resource")

    def __init__(self, key: str, bps: int) -> None:
        self.key = key
        self.resource = "cap:" + key
        """What paths share when they use this hop: the destination's inventory."""
        self.bps = bps
        self.min_base = 0

    def fwd(self, x: int, st: ExactState, commit: bool = True) -> int | None:
        out = fee_off(x, self.bps) if x > 0 else 0
        left = st.cap.get(self.key, 0)
        if out > left:
            return None
        if commit:
            st.cap[self.key] = left - out
        return out

    def bwd(self, y: int, st: ExactState) -> int | None:
        if y > st.cap.get(self.key, 0):
            return None
        return fee_on(y, self.bps)


ExactHop = ExactAmm | ExactBook | ExactTransfer


def _min_input(hop: ExactHop, y: int, st: ExactState, estimate: int) -> int | None:
    """Smallest input whose forward output reaches ``y``, searched from ``estimate``.

    Outputs are non-decreasing in the input up to the hop's depth (beyond it the hop
    cannot execute), so: from the estimate, search down (if it suffices) or up
    (exponentially, stopping at the depth), then bisect to the least input.
    """
    out = hop.fwd(estimate, st, commit=False)
    if out is not None and out >= y:
        # the estimate suffices (Uniswap's getAmountIn adds 1 even when it divides
        # exactly): step down while the input below still does
        below = hop.fwd(estimate - 1, st, commit=False) if estimate > 0 else None
        if below is None or below < y:
            return estimate
        hi, step = estimate - 1, 1
        while True:
            lo = max(hi - step, 0)
            out = hop.fwd(lo, st, commit=False)
            if out is None or out < y:
                break
            if lo == 0:
                return 0
            hi, step = lo, step * 2
    elif out is None:
        lo = 0
        hi = _largest_executable(hop, st, 0, estimate)
        top = hop.fwd(hi, st, commit=False)
        if top is None or top < y:
            return None
    else:
        lo, step = estimate, 1
        while True:
            hi = lo + step
            out = hop.fwd(hi, st, commit=False)
            if out is None:
                hi = _largest_executable(hop, st, lo, hi)
                top = hop.fwd(hi, st, commit=False)
                if top is None or top < y:
                    return None
                break
            if out >= y:
                break
            lo, step = hi, step * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        out = hop.fwd(mid, st, commit=False)
        if out is not None and out >= y:
            hi = mid
        else:
            lo = mid
    return hi


def _largest_executable(hop: ExactHop, st: ExactState, good: int, bad: int) -> int:
    """Largest input in ``[good, bad)`` the hop can execute (``good`` can, ``bad`` cannot)."""
    while bad - good > 1:
        mid = (good + bad) // 2
        if hop.fwd(mid, st, commit=False) is None:
            bad = mid
        else:
            good = mid
    return good
