"""A path's float hops fused into one function per operation.

The split search runs a path's hops thousands of times per quote (probe, commit,
run as executed; forwards or backwards). Calling each hop's method in a loop
costs more than the arithmetic it does, so each operation of a path is one
function with the formulas of pools, transfers and book sides written out in
line. The functions compute exactly what the
hops' own methods compute, in the same order of float operations:
``tests/router/test_fused.py`` checks them against the methods.

The source of each function depends only on the kinds of the path's hops, so it
is generated once per (kinds, operation) and bound to a path's slots and
constants by calling the generated factory.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from enum import Enum
from functools import cache

from aggregator.router.curves import (
    _EPS,
    _SLACK,
    INF,
    FloatAmm,
    FloatBook,
    FloatHop,
    FloatTransfer,
)

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
    """A book side (FloatBook): ``st[s]`` input consumed, ``st[s + 1]`` gross output paid."""
    if op.forward:
        lines = [
            f"z = st[s{k}] + x",
            f"if z > lim_in{k}: return -1.0",
            f"j = bisect_right(cin{k}, z) - 1",
            f"gross = tot_out{k} if j >= nr{k} else cout{k}[j] + (z - cin{k}[j]) * rt{k}[j]",
            f"out = (gross - st[s{k} + 1]) * f{k}",
        ]
        if op is not Op.FWD:
            lines += [f"st[s{k}] = z", f"st[s{k} + 1] = gross"]
        return [*lines, "x = out", "if x < 0.0: return -1.0"]
    lines = [
        f"w = st[s{k} + 1] + x / f{k}",
        f"if w > lim_out{k} or not nr{k}: return INF",
        f"j = min(bisect_left(cout{k}, w) - 1, nr{k} - 1)",
        "if j < 0: j = 0",
        f"y = cin{k}[j] + (w - cout{k}[j]) / rt{k}[j] - st[s{k}]",
    ]
    if op is not Op.BWD:
        lines += ["if y == INF: return INF", f"st[s{k}] += y", f"st[s{k} + 1] += x / f{k}"]
    return [*lines, "x = y", "if x == INF: return INF"]


_BOOK_PARAMS = ("s", "cin", "cout", "rt", "nr", "tot_out", "lim_in", "lim_out", "f")


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
            params += [f"{name}{k}" for name in _BOOK_PARAMS]
            body += _book(k, op)
    inner = "\n".join("        " + line for line in [*body, "return x"])
    source = f"def bind({', '.join(params)}):\n    def run(x, st):\n{inner}\n    return run\n"
    scope: dict[str, object] = {
        "EPS": _EPS,
        "INF": INF,
        "bisect_left": bisect_left,
        "bisect_right": bisect_right,
    }
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
    return [
        hop.i,
        hop.cum_in,
        hop.cum_out,
        hop.rates,
        len(hop.rates),
        hop.total_out,
        hop.total_in * _SLACK,
        hop.total_out * _SLACK,
        hop.f,
    ]


def fuse(hops: Sequence[FloatHop], op: Op) -> PathFn:
    """``op`` over ``hops`` (in the order they run: a backward operation takes the path's
    hops reversed) as one function of (amount, state)."""
    kinds = tuple(_kind(h) for h in hops)
    args = [a for h in hops for a in _args(h, op)]
    return _factory(kinds, op)(*args)
