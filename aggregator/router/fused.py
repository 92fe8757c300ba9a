"""A path's float hops fused into one function per operation.

The split search runs a path's hops thousands of times per quote (probe, commit,
run as executed; forwards or backwards). Calling each hop's method in a loop
costs more than the arithmetic it does, so each operation of a path is one
function with the pool and transfer formulas written out in line (a book side,
which bisects its levels, stays a call). The functions compute exactly what the
hops' own methods compute, in the same order of float operations:
``tests/router/test_fused.py`` checks them against the methods.

The source of each function depends only on the kinds of the path's hops, so it
is generated once per (kinds, operation) and bound to a path's slots and
constants by calling the generated factory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from functools import cache

from aggregator.router.curves import _EPS, INF, FloatAmm, FloatBook, FloatHop, FloatTransfer

__all__ = ["Op", "fuse"]

PathFn = Callable[[float, list[float]], float]
"""``fn(amount, state) -> amount`` (-1 or inf when a hop cannot take it)."""


class Op(Enum):
    """An operation over a path's hops (see :mod:`aggregator.router.curves`)."""

    FWD = "fwd"
    FWD_COMMIT = "fwd_commit"
    FWD_EXEC = "fwd_exec"
    BWD = "bwd"
    BWD_COMMIT = "bwd_commit"
    BWD_EXEC = "bwd_exec"

    @property
    def forward(self) -> bool:
        return self.value.startswith("fwd")


def _kind(hop: FloatHop) -> str:
    if isinstance(hop, FloatAmm):
        return "amm"
    if isinstance(hop, FloatTransfer):
        return "transfer"
    return "book"


def _amm_fwd(k: int, op: Op) -> list[str]:
    lines = [f"xg = x * g{k}", f"out = xg * st[o{k}] / (st[i{k}] + xg)"]
    if op is Op.FWD_COMMIT:
        lines += [f"st[i{k}] += x * g{k}", f"st[o{k}] -= out"]
    elif op is Op.FWD_EXEC:
        # the fee stays in the reserve (FloatAmm.fwd_exec)
        lines = [f"r_in = st[i{k}]", f"xg = x * g{k}", f"out = xg * st[o{k}] / (r_in + xg)"]
        lines += [f"st[i{k}] = r_in + x", f"st[o{k}] -= out"]
    return [*lines, "x = out", "if x < 0.0: return -1.0"]


def _transfer_fwd(k: int, op: Op) -> list[str]:
    lines = [f"out = x * f{k}", f"if out > st[c{k}] + out * EPS: return -1.0"]
    if op is not Op.FWD:
        lines.append(f"st[c{k}] -= out")
    return [*lines, "x = out", "if x < 0.0: return -1.0"]


def _amm_bwd(k: int, op: Op) -> list[str]:
    lines = [f"r_out = st[o{k}]", "if x >= r_out: return INF"]
    lines.append(f"y = st[i{k}] * x / ((r_out - x) * g{k})")
    if op is not Op.BWD:
        lines.append("if y == INF: return INF")
        lines.append(f"st[i{k}] += y * g{k}" if op is Op.BWD_COMMIT else f"st[i{k}] += y")
        lines.append(f"st[o{k}] -= x")
    return [*lines, "x = y", "if x == INF: return INF"]


def _transfer_bwd(k: int, op: Op) -> list[str]:
    lines = [f"if x > st[c{k}] + x * EPS: return INF"]
    if op is not Op.BWD:
        lines.append(f"st[c{k}] -= x")
    return [*lines, f"x = x / f{k}"]


def _book(k: int, op: Op) -> list[str]:
    fail = "if x < 0.0: return -1.0" if op.forward else "if x == INF: return INF"
    return [f"x = b{k}(x, st)", fail]


@cache
def _factory(kinds: tuple[str, ...], op: Op) -> Callable[..., PathFn]:
    """A function that binds a path's constants to the fused ``op`` over ``kinds``."""
    params: list[str] = []
    body: list[str] = []
    for k, kind in enumerate(kinds):
        if kind == "amm":
            params += [f"i{k}", f"o{k}", f"g{k}"]
            body += _amm_fwd(k, op) if op.forward else _amm_bwd(k, op)
        elif kind == "transfer":
            params += [f"c{k}", f"f{k}"]
            body += _transfer_fwd(k, op) if op.forward else _transfer_bwd(k, op)
        else:
            params.append(f"b{k}")
            body += _book(k, op)
    inner = "\n".join("        " + line for line in [*body, "return x"])
    source = f"def bind({', '.join(params)}):\n    def run(x, st):\n{inner}\n    return run\n"
    scope: dict[str, object] = {"EPS": _EPS, "INF": INF}
    exec(compile(source, f"<fused {op.value} {'-'.join(kinds)}>", "exec"), scope)
    bind = scope["bind"]
    assert callable(bind)
    return bind


def _args(hop: FloatHop, op: Op) -> list[object]:
    if isinstance(hop, FloatAmm):
        return [hop.i_in, hop.i_out, hop.g]
    if isinstance(hop, FloatTransfer):
        return [hop.i_cap, hop.f]
    assert isinstance(hop, FloatBook)
    method: PathFn = getattr(hop, op.value)
    return [method]


def fuse(hops: Sequence[FloatHop], op: Op) -> PathFn:
    """``op`` over ``hops`` (in the order they run: a backward operation takes the path's
    hops reversed) as one function of (amount, state)."""
    kinds = tuple(_kind(h) for h in hops)
    args = [a for h in hops for a in _args(h, op)]
    return _factory(kinds, op)(*args)
