"""Choosing the paths: fixed costs, minimum sizes, the best single path.

The search (``split.py``) ignores fixed costs; this step decides which paths pay
for their gas. A path whose surplus over the marginal rate (what it adds, given
the other paths' fills, beyond what its share would earn elsewhere) is below its
gas is tried without, and the rest re-split from the current allocation (a warm
start: the other paths only gain share); the split is kept if it nets more
(``GAS_EXCEEDS_GAIN``). The surplus is a first-order estimate, so paths it cannot
be trusted for (sharing a saturated inventory or book, or a market, with another
path, or redundant: its markets a combination of other paths') are tried too, and
a lone path is tried without when others could take the order. With a few paths
in use every subset of them is tried; with more, paths are dropped, or swapped
with a dropped one, one at a time; when none is left to drop, a path dropped for
gas is tried once in place of a used one it shares a market with. A split
re-balanced for execution order is no floor for the search's model, and a
redundant set keeps every path it starts with, so those trials re-split from
scratch. A path that would trade below a
market's minimum size is dropped (``BELOW_MIN_SIZE``).

When the search cannot place the whole order (the paths it prefers exhaust an
inventory every path needs), the split is rebuilt from the best single path by
moving allocation to the others while that gains (``rebalance.rescue``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from aggregator.models.quote import ExclusionReason
from aggregator.router.rebalance import polish, rescue
from aggregator.router.sequential import Runs
from aggregator.router.split import Solution, Splitter

__all__ = ["SplitResult", "optimize"]

_UNSURE = 4.0
"""A shared-market path's surplus within this many times its gas is checked by re-solving."""
_GAS_NEGLIGIBLE = 1e-5
"""Paths whose gas together is below this fraction of the value are all kept."""
_GAS_SIGNIFICANT = 1e-4
"""Gas above this fraction of the value is worth trials of its own."""


@dataclass(slots=True)
class SplitResult:
    """Per route: its allocation (input, or gross output for exact output) or why it was
    dropped; ``best_single`` is the route that alone does best, if any can fill alone."""

    alloc: list[float]
    statuses: dict[int, ExclusionReason] = field(default_factory=dict)
    shortfall: float = 0.0
    best_single: int | None = None

    @property
    def feasible(self) -> bool:
        return self.shortfall == 0.0


def _solve(
    sp: Splitter, total: float, members: list[bool], warm: list[float] | None = None
) -> Solution:
    """The search's split, re-balanced for execution order where paths share a market
    (before it is judged: the order can change which paths pay)."""
    sol = sp.solve(total, members, warm)
    return polish(sp, sol) if sol.feasible else sol


def _surplus(sp: Splitter, sol: Solution, runs: Runs, j: int, rate: float) -> float:
    """What path ``j`` adds beyond what its share would earn at the marginal rate, given
    the other paths' fills (``runs``: the solution's paths as they execute)."""
    # what the path adds to the output, or to the input, executed among the others
    added = runs.value - runs.value_with({j: 0.0})
    if sp.forward:
        return added - rate * sol.alloc[j]
    return sol.alloc[j] + rate * added


def _redundant(sp: Splitter, active: list[int]) -> set[int]:
    """Active paths whose markets are a linear combination of other active paths' markets.

    Such paths add no way of splitting the order that the others lack (two parallel
    pools on each of two hops make four paths, three of which reach every split of
    both hops), so one of them only costs gas: the first-order surplus cannot see it.
    """
    chosen = set(active)
    linked = [j for j in active if any(k != j and k in chosen for k in sp.price_links[j])]
    if len(linked) < 3:
        return set()
    markets = sorted(set().union(*(sp.routes[j].markets for j in linked)))
    # 0/1 rows independent modulo 2 are independent over the reals (the usual case)
    bit = {m: 1 << k for k, m in enumerate(markets)}
    basis: list[int] = []
    for j in linked:
        row = sum(bit[m] for m in sp.routes[j].markets)
        for b in basis:
            row = min(row, row ^ b)
        if not row:
            break
        basis.append(row)
    else:
        return set()
    rows = {j: [1.0 if m in sp.routes[j].markets else 0.0 for m in markets] for j in linked}
    full = _rank(list(rows.values()))
    return {j for j in linked if _rank([r for k, r in rows.items() if k != j]) == full}


def _rank(rows: list[list[float]]) -> int:
    """Rank of a small 0/1 matrix by Gaussian elimination."""
    rows = [r[:] for r in rows]
    rank = 0
    for col in range(len(rows[0]) if rows else 0):
        pivot = next((i for i in range(rank, len(rows)) if abs(rows[i][col]) > 1e-9), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        top = rows[rank]
        for i in range(rank + 1, len(rows)):
            f = rows[i][col] / top[col]
            if f:
                rows[i] = [a - f * b for a, b in zip(rows[i], top, strict=True)]
        rank += 1
    return rank


def _merges(
    sp: Splitter, sol: Solution, runs: Runs, j: int, partners: list[int], current: float
) -> bool:
    """Whether handing path ``j``'s share to one of ``partners`` (paths sharing a market
    with it) and saving its gas already beats the current split.

    Executed in order, paths sharing a market are not additive: the split where they
    balance may be worse than one without ``j``, which the surplus cannot tell.
    """
    gas = sum(sp.fixed[i] for i in sol.active if i != j) if sp.forward else 0.0
    # exact output: the gross shrinks by the gas of the path dropped
    given = sol.alloc[j] - (0.0 if sp.forward else sp.fixed[j])
    return any(runs.value_with({j: 0.0, k: sol.alloc[k] + given}) - gas > current for k in partners)


def _drop_candidates(
    sp: Splitter, sol: Solution, members: list[bool]
) -> tuple[list[int], set[int]]:
    """Active paths worth trying without, most promising first.

    A path whose surplus (what it adds, given the others' fills, beyond what its share
    earns at the marginal rate) is below its gas. The estimate is first order, so paths
    it cannot be trusted for are tried too: one with gas sharing a saturated inventory
    or book with another active path (the freed capacity goes to the other path at its
    own rate), or sharing a market with one while its surplus is within a few times its
    gas (the other path's fills move with it), or redundant with the others
    (:func:`_redundant`, returned too), or whose share a path sharing a market with it
    takes to advantage (:func:`_merges`).

    A lone path's share is the whole order, and without it the idle paths trade on
    markets its fills no longer move: its share is valued at the best first-unit rate
    of an idle path on the untouched markets, if that beats its own last rate.
    """
    active = sol.active
    redundant = _redundant(sp, active)
    rate = min(sol.last_rate[j] for j in active)
    runs = Runs(sp, active, sol.alloc)
    tiny = max(sol.alloc[j] for j in active) * 1e-6
    if len(active) == 1:
        idle = [k for k, m in enumerate(members) if m and k != active[0]]
        rate = max([rate] + [sp.rate(k, tiny, sp.st0) for k in idle])
    saturated = {j for j in active if sp.rate(j, tiny, sol.state) < 0.0}
    current = runs.value - (sum(sp.fixed[j] for j in active) if sp.forward else 0.0)
    scored = []
    for j in active:
        if sp.fixed[j] <= 0.0:
            continue
        surplus = _surplus(sp, sol, runs, j, rate)
        others = [k for k in sp.conflicts[j] if k != j and sol.alloc[k] > 0.0]
        shares_bound = bool(others) and (j in saturated or any(k in saturated for k in others))
        partners = [k for k in others if sp.routes[j].markets & sp.routes[k].markets]
        if (
            surplus < sp.fixed[j]
            or j in redundant
            or shares_bound
            or (partners and surplus < _UNSURE * sp.fixed[j])
            or (partners and _merges(sp, sol, runs, j, partners, current))
        ):
            scored.append((surplus - sp.fixed[j], j))
    return [j for _, j in sorted(scored)], redundant


def _best_trial(
    sp: Splitter,
    warm: list[float] | None,
    total: float,
    members: list[bool],
    changes: list[tuple[int, int]],
    floor: float,
    active: list[int],
    cold: frozenset[int] | set[int] = frozenset(),
) -> tuple[int, int, list[bool], Solution] | None:
    """The best feasible solution better than ``floor`` among member changes
    ``(drop, add)`` (``add`` -1 for none); dropping a path of ``cold`` re-splits from
    scratch (the current split is no floor when paths are redundant: it keeps them all).

    Where a dropped path's gas is significant, idle paths at least as dear in gas (save
    the one added) are tried without too: the search, blind to gas, would hand the share
    to such a twin.
    """
    best: tuple[int, int, list[bool], Solution] | None = None
    for drop, add in changes:
        trial_members = members[:]
        trial_members[drop] = False
        if add >= 0:
            trial_members[add] = True
        variants = [trial_members]
        if sp.fixed[drop] > _GAS_SIGNIFICANT * abs(floor):
            dear = [
                k
                for k, m in enumerate(trial_members)
                if m and k not in active and k != add and sp.fixed[k] >= sp.fixed[drop]
            ]
            if dear and len(dear) < sum(trial_members):
                variants.append([m and k not in dear for k, m in enumerate(trial_members)])
        for trial_members in variants:
            # dropping only: the others' shares only grow, so the current split is a floor
            start = warm if add < 0 and drop not in cold else None
            trial = _solve(sp, total, trial_members, start)
            if trial.feasible and (value := sp.value(trial)) > floor:
                floor, best = value, (drop, add, trial_members, trial)
    return best


def _best_subset(
    sp: Splitter,
    warm: list[float] | None,
    total: float,
    members: list[bool],
    active: list[int],
    floor: float,
) -> tuple[list[bool], Solution] | None:
    """Every non-empty proper subset of a few active paths, the best one if better.

    Each subset is tried alone and with the idle paths cheaper in gas than a dropped one
    allowed back: such a path may be what the subset needs (a cheaper twin of a dropped
    path), or may wake up beside a dropped twin only because the search does not charge
    its gas, hence both.
    """
    idle = [j for j, m in enumerate(members) if m and j not in active]
    best: tuple[list[bool], Solution] | None = None
    for size in range(1, len(active)):
        for keep in itertools.combinations(active, size):
            variants = [[m and j in keep for j, m in enumerate(members)]]
            # idle paths cheaper in gas than a dropped one may take its place
            dearest = max(sp.fixed[j] for j in active if j not in keep)
            cheaper = [j for j in idle if sp.fixed[j] < dearest]
            if cheaper:
                variants.append([m and (j in keep or j in cheaper) for j, m in enumerate(members)])
            for trial_members in variants:
                trial = _solve(sp, total, trial_members, warm)
                if (
                    trial.feasible
                    and (value := sp.value(trial)) > floor
                    and not any(sp.below_min(j, trial.alloc[j]) for j in trial.active)
                ):
                    floor, best = value, (trial_members, trial)
    return best


def _swaps(
    sp: Splitter, statuses: dict[int, ExclusionReason], active: list[int], *, twins: bool
) -> list[tuple[int, int]]:
    """Changes ``(drop, add)`` putting a path dropped for gas in place of an active path
    (only one it shares a market with, if ``twins``)."""
    gassed = [j for j, r in statuses.items() if r is ExclusionReason.GAS_EXCEEDS_GAIN]
    return [
        (a, d)
        for d in gassed
        for a in active
        if not twins or sp.routes[a].markets & sp.routes[d].markets
    ]


def _take(
    found: tuple[int, int, list[bool], Solution],
    members: list[bool],
    statuses: dict[int, ExclusionReason],
) -> tuple[list[bool], Solution]:
    """The members and split of a trial taken: what it dropped is marked as dropped for
    gas, and the path it added is no longer."""
    _, add, trial_members, sol = found
    statuses.pop(add, None)
    for k, m in enumerate(members):
        if m and not trial_members[k]:
            statuses[k] = ExclusionReason.GAS_EXCEEDS_GAIN
    return trial_members, sol


def optimize(sp: Splitter, total: float, members: list[bool] | None = None) -> SplitResult:
    members = [True] * len(sp.routes) if members is None else members[:]
    single = sp.best_single(total, members)
    statuses: dict[int, ExclusionReason] = {}
    sol = _solve(sp, total, members)
    if not sol.feasible and sp.forward and single is not None:
        sol = rescue(sp, total, single, members) or sol
    moves = 0
    exhaustive = False
    reordered = False
    swapped = False
    while sol.feasible and moves < sp.cfg.max_drops:
        active = sol.active
        small = [j for j in active if sp.below_min(j, sol.alloc[j])]
        if small:
            for j in small:
                members[j] = False
                statuses[j] = ExclusionReason.BELOW_MIN_SIZE
            sol = _solve(sp, total, members)
            continue
        if len(active) <= 1 and sum(members) <= 1:
            break
        current = sp.value(sol)
        # dropping paths saves at most their gas: not worth the trials when it is negligible,
        # save for a redundant path, whose share the others may place better executed in
        # order (tried once each, from scratch: the others' shares are no floor)
        if sum(sp.fixed[j] for j in active) <= _GAS_NEGLIGIBLE * (
            abs(current) if sp.forward else total
        ):
            redundant = set() if reordered else _redundant(sp, active)
            reordered = True
            drops = [(j, -1) for j in sorted(redundant)]
            found = _best_trial(sp, None, total, members, drops, current, active, redundant)
            if found is None:
                break
            members, sol = found[2], found[3]
            moves += 1
            continue
        # a split re-balanced for execution order is no floor for the search's model
        warm = None if sol.rebalanced else sol.alloc
        candidates, redundant = _drop_candidates(sp, sol, members)
        if not candidates:
            # no path to drop, but one dropped for gas may do better in place of a used
            # path it shares a market with (which of such paths to keep depends on the split)
            twins = [] if swapped else _swaps(sp, statuses, active, twins=True)
            found = _best_trial(sp, warm, total, members, twins, current, active)
            swapped = True
            if found is None:
                break
            members, sol = _take(found, members, statuses)
            moves += 1
            continue
        if 1 < len(active) <= sp.cfg.exhaustive_paths and not exhaustive:
            # few paths: try every subset of them
            exhaustive = True
            subset = _best_subset(sp, warm, total, members, active, current)
            if subset is None:
                break
            members, sol = subset
            for j in active:
                if not members[j]:
                    statuses[j] = ExclusionReason.GAS_EXCEEDS_GAIN
            continue
        # every redundant path is tried: which one to drop depends on the split
        drops = [(j, -1) for k, j in enumerate(candidates) if k < 3 or j in redundant]
        found = _best_trial(sp, warm, total, members, drops, current, active, redundant)
        if found is None:
            # a path dropped for gas may do better in place of one still used
            swaps = _swaps(sp, statuses, active, twins=False)
            found = _best_trial(sp, warm, total, members, swaps, current, active)
        if found is None:
            break
        members, sol = _take(found, members, statuses)
        moves += 1
    return SplitResult(
        alloc=sol.alloc, statuses=statuses, shortfall=sol.shortfall, best_single=single
    )
