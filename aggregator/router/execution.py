"""Executing a split exactly: every path's legs, in a fixed order, over one shared state.

Paths run one after the other (legs in path order), so a market used by several
paths gives each fill the price the previous fills left, and an inventory shared
by several paths bounds them together.

Forward (exact input): a leg's output is the formula's output for its input.
Backward (exact output): a leg's input is the least input whose output reaches what
the next leg needs; the legs then run forward from those inputs, so any rounding
surplus stays with the resolver and a promised output is never more than executing
the legs gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aggregator.models.quote import ExclusionReason
from aggregator.router.exact import ExactHop, ExactState, ExactTransfer

__all__ = [
    "ExactRun",
    "execute",
    "integer_split",
    "largest_executable",
    "run_backward",
    "run_forward",
]

_REPAIRS = 8
"""Exact runs allowed while moving rounding overshoots off paths at a bound."""
_UNDER = 1_000_000
"""A path cut back to a bound is cut to this much (one part in it) under the bound when
the paths taking the rest share a market with it (their fills move its prices)."""


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


def execute(
    paths: Sequence[Sequence[ExactHop]],
    resources: Sequence[frozenset[str]],
    amounts: list[int],
    caps: Mapping[str, int],
    *,
    backward: bool,
) -> ExactRun:
    """Run a split exactly, repairing rounding overshoots at bounds.

    The search may fill a path to an inventory or depth bound that integer rounding then
    takes a few units over: that path is cut to what executes and the rest goes to the
    paths not drawing on that bound (``resources`` per path), and the split runs again.
    """
    amounts = list(amounts)
    pinned: set[int] = set()
    run = ExactRun()
    for _ in range(_REPAIRS):
        run = (run_backward if backward else run_forward)(paths, amounts, dict(caps))
        if run.ok or run.failed is None or run.reason is not ExclusionReason.NO_CAPACITY:
            break
        f = run.failed
        pinned.add(f)
        bound = run.failed_hop.resource if run.failed_hop is not None else ""
        free = [
            k
            for k, a in enumerate(amounts)
            if a > 0 and k not in pinned and bound not in resources[k]
        ]
        if not free:
            break
        fits = largest_executable(paths, amounts, dict(caps), f, backward=backward)
        if any(not r.startswith("cap:") for k in free for r in resources[k] & resources[f]):
            # a little under the bound: the paths taking the rest may run first and move
            # prices this path sees on a market they share
            fits -= fits // _UNDER
        extra = integer_split(amounts[f] - fits, [float(amounts[k]) for k in free])
        amounts[f] = fits
        for k, more in zip(free, extra, strict=True):
            amounts[k] += more
    return run
