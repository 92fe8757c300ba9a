"""Exact integer amounts: every leg recomputed with the venues' own integer formulas.

Paths are executed in a fixed order (path by path, legs in path order) over one
shared state, so a market used by several paths gives each fill the price the
previous fills left: a pool's reserves move by exactly what Uniswap v2 moves them
by; a book fill starts where the previous one stopped (each fill floors per level
and pays the taker fee on its own, as separate orders would). A transfer draws on
the destination's inventory, shared by every path that lands there.

Forward (exact input): a leg's output is the formula's output for its input.
Backward (exact output): a leg's input is the smallest input whose forward output
reaches what the next leg needs; the legs are then re-run forward from those
inputs, so any rounding surplus stays with the resolver and a promised output is
never more than executing the legs gives.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from aggregator.models.quote import ExclusionReason
from aggregator.models.units import BPS

__all__ = [
    "ExactAmm",
    "ExactBook",
    "ExactHop",
    "ExactRun",
    "ExactState",
    "ExactTransfer",
    "fee_off",
    "fee_on",
    "integer_split",
    "largest_executable",
    "run_backward",
    "run_forward",
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


def _base_amount(hop: ExactHop, amount_in: int, amount_out: int) -> int:
    if isinstance(hop, ExactTransfer):
        return amount_in
    return amount_in if hop.sell else amount_out


@dataclass(slots=True)
class ExactRun:
    """The legs of every path as ``(amount_in, amount_out)``; ``failed`` names the path (its
    index) that could not be executed, with the reason."""

    legs: list[list[tuple[int, int]]] = field(default_factory=list)
    failed: int | None = None
    failed_hop: ExactHop | None = None
    """The hop whose inventory or depth ran out (``NO_CAPACITY``)."""
    reason: ExclusionReason | None = None
    state: ExactState | None = None

    @property
    def ok(self) -> bool:
        return self.failed is None

    def outputs(self) -> list[int]:
        return [legs[-1][1] if legs else 0 for legs in self.legs]

    def inputs(self) -> list[int]:
        return [legs[0][0] if legs else 0 for legs in self.legs]


def _fail(run: ExactRun, j: int, hop: ExactHop) -> ExactRun:
    run.failed = j
    run.failed_hop = hop
    run.reason = ExclusionReason.NO_CAPACITY
    return run


def _check_min(run: ExactRun, j: int, hop: ExactHop, amount_in: int, amount_out: int) -> bool:
    if hop.min_base and _base_amount(hop, amount_in, amount_out) < hop.min_base:
        run.failed = j
        run.reason = ExclusionReason.BELOW_MIN_SIZE
        return False
    return True


def _forward_path(
    hops: Sequence[ExactHop], amount: int, st: ExactState, run: ExactRun, j: int
) -> list[tuple[int, int]] | None:
    legs: list[tuple[int, int]] = []
    x = amount
    for hop in hops:
        out = hop.fwd(x, st)
        if out is None:
            _fail(run, j, hop)
            return None
        if not _check_min(run, j, hop, x, out):
            return None
        legs.append((x, out))
        x = out
    return legs


def _backward_path(
    hops: Sequence[ExactHop], target: int, st: ExactState, run: ExactRun, j: int
) -> list[tuple[int, int]] | None:
    need: int | None = target
    inputs: list[int] = []
    for hop in reversed(hops):
        assert need is not None
        need = hop.bwd(need, st)
        if need is None:
            _fail(run, j, hop)
            return None
        inputs.append(need)
    inputs.reverse()
    legs: list[tuple[int, int]] = []
    for hop, x in zip(hops, inputs, strict=True):
        out = hop.fwd(x, st)
        if out is None:
            _fail(run, j, hop)
            return None
        if not _check_min(run, j, hop, x, out):
            return None
        legs.append((x, out))
    return legs


def _run(
    paths: Sequence[Sequence[ExactHop]],
    amounts: Sequence[int],
    caps: dict[str, int],
    backward: bool,
) -> ExactRun:
    st = ExactState(caps)
    run = ExactRun(state=st)
    step = _backward_path if backward else _forward_path
    for j, (hops, amount) in enumerate(zip(paths, amounts, strict=True)):
        if amount <= 0:
            run.legs.append([])
            continue
        legs = step(hops, amount, st, run, j)
        run.legs.append(legs or [])
        if legs is None:
            return run
    return run


def run_forward(
    paths: Sequence[Sequence[ExactHop]], amounts: Sequence[int], caps: dict[str, int]
) -> ExactRun:
    """Execute every path with its exact input, in order, over one shared state."""
    return _run(paths, amounts, caps, backward=False)


def run_backward(
    paths: Sequence[Sequence[ExactHop]], targets: Sequence[int], caps: dict[str, int]
) -> ExactRun:
    """Find each path's exact input for its target output, then execute it forward, in order."""
    return _run(paths, targets, caps, backward=True)


def largest_executable(
    paths: Sequence[Sequence[ExactHop]],
    amounts: Sequence[int],
    caps: dict[str, int],
    j: int,
    *,
    backward: bool,
) -> int:
    """The largest amount (input, or target output if ``backward``) path ``j`` can take after
    the paths before it ran with their amounts; 0 if none."""
    prefix = _run(paths[:j], amounts[:j], caps, backward)
    if not prefix.ok or prefix.state is None:
        return 0
    base = prefix.state
    step = _backward_path if backward else _forward_path

    def fits(amount: int) -> bool:
        st = ExactState(base.cap)
        st.amm = dict(base.amm)
        st.book = dict(base.book)
        return step(paths[j], amount, st, ExactRun(), j) is not None

    lo, hi = 0, amounts[j]
    if fits(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def integer_split(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` exactly (largest remainders get the rest)."""
    scale = 1 << 52
    positive = sum(w for w in weights if w > 0.0)
    if positive <= 0.0:
        return [0] * len(weights)
    q = [int(w / positive * scale) if w > 0.0 else 0 for w in weights]
    denominator = sum(q)
    parts = [total * qi // denominator for qi in q]
    short = total - sum(parts)
    order = sorted(range(len(q)), key=lambda i: -(total * q[i] % denominator) if q[i] else 1)
    for i in order[:short]:
        parts[i] += 1
    return parts
