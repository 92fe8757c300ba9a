"""Pure aggregation of journal facts into metrics: no I/O, exact arithmetic.

QuestDB returns per-swap and per-event facts (see :mod:`aggregator.journal.metrics`);
the functions here turn them into the reported figures, so every figure can be
checked by hand from the rows.

Percentiles use the nearest-rank definition: sort the n values ascending; the
p-th percentile is the value at 1-based rank ``ceil(p * n / 100)``. It is always
one of the observed values (no interpolation). Ratios are ``Decimal``; amounts
and durations stay integers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "BatchFact",
    "FinalityByPair",
    "FinalityReport",
    "GasFact",
    "LatencyFact",
    "LegFact",
    "SettlementEfficiency",
    "SwapCompletion",
    "SwapStateFact",
    "SwapStates",
    "SyncLatencyBySource",
    "SyncLatencyReport",
    "Throughput",
    "TimeWindow",
    "finality_report",
    "leg_slippage_bps",
    "nearest_rank",
    "settlement_efficiency",
    "swap_completions",
    "sync_latency_report",
    "throughput",
]

NS_PER_SECOND = 1_000_000_000
NS_PER_HOUR = 3600 * NS_PER_SECOND
BPS = 10_000

T = TypeVar("T", int, Decimal)


def nearest_rank(values: Sequence[T], percentile: int) -> T:
    """Nearest-rank percentile (1 <= percentile <= 100) of a non-empty sequence."""
    if not values:
        raise ValueError("no values")
    if not 1 <= percentile <= 100:
        raise ValueError("percentile must be within 1..100")
    rank = -(-percentile * len(values) // 100)
    return sorted(values)[rank - 1]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class TimeWindow(_Frozen):
    """[start_ns, end_ns) in integer nanoseconds since the Unix epoch."""

    start_ns: int = Field(ge=0)
    end_ns: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end_ns <= self.start_ns:
            raise ValueError("a time window ends after it starts")
        return self

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


class SwapStates(_Frozen):
    """State names that delimit finality: the trader's lock, then both claims."""

    lock: str = Field(default="source_locked", description="The trader locked on the source.")
    claims: tuple[str, ...] = Field(
        default=("source_claiming", "completed"),
        min_length=1,
        description="Every one of these must be reached for the swap to be final.",
    )


# -- facts (one row of a metrics query each) ----------------------------------


class SwapStateFact(_Frozen):
    """First time (ts_event) a swap reached a state."""

    swap_id: str
    chain_pair: str = ""
    state_to: str
    first_ns: int


class GasFact(_Frozen):
    """Gas attributed to one swap over all its transactions."""

    swap_id: str
    gas: int


class BatchFact(_Frozen):
    """One transaction and the number of swaps it carried."""

    chain: str = ""
    tx_hash: str
    batch_size: int = Field(ge=1)


class LegFact(_Frozen):
    """One executed leg: quoted and executed output, base units."""

    swap_id: str
    venue: str = ""
    location: str = ""
    quoted_out: int
    executed_out: int


class LatencyFact(_Frozen):
    """ts_recv - ts_event of one event from one source."""

    source: str
    latency_ns: int


# -- results ---------------------------------------------------------------------


class SwapCompletion(_Frozen):
    swap_id: str
    chain_pair: str
    lock_ns: int
    final_ns: int

    @property
    def finality_ns(self) -> int:
        return self.final_ns - self.lock_ns


class FinalityByPair(_Frozen):
    chain_pair: str
    swaps: int
    p50_ns: int
    p95_ns: int


class FinalityReport(_Frozen):
    """Trader lock to the last of both claims, per chain pair (nearest-rank percentiles)."""

    window: TimeWindow
    completed: int
    pairs: tuple[FinalityByPair, ...]


class SettlementEfficiency(_Frozen):
    window: TimeWindow
    swaps_with_gas: int
    gas_total: int
    gas_per_swap: Decimal | None = Field(description="Mean gas per swap.")
    gas_per_swap_p50: int | None
    gas_per_swap_p95: int | None
    batches: int
    swaps_in_batches: int
    swaps_per_batch: Decimal | None = Field(description="Mean swaps per settlement transaction.")
    legs: int
    quoted_out_total: int
    executed_out_total: int
    slippage_bps: Decimal | None = Field(
        description="(sum quoted - sum executed) / sum quoted, basis points; >0 is worse."
    )
    slippage_bps_p50: Decimal | None
    slippage_bps_p95: Decimal | None


class Throughput(_Frozen):
    window: TimeWindow
    quotes: int
    quotes_per_second: Decimal
    swaps_completed: int
    swaps_per_hour: Decimal


class SyncLatencyBySource(_Frozen):
    source: str
    samples: int
    p50_ns: int
    p99_ns: int


class SyncLatencyReport(_Frozen):
    """ts_recv - ts_event per source (chain:<key>, venue:<key>)."""

    window: TimeWindow
    sources: tuple[SyncLatencyBySource, ...]


# -- aggregation -------------------------------------------------------------------


def swap_completions(facts: Iterable[SwapStateFact], states: SwapStates) -> list[SwapCompletion]:
    """Swaps that reached the lock and every claim: lock time and last claim time."""
    first: dict[str, dict[str, int]] = defaultdict(dict)
    pair: dict[str, str] = {}
    for fact in facts:
        seen = first[fact.swap_id]
        if fact.state_to not in seen or fact.first_ns < seen[fact.state_to]:
            seen[fact.state_to] = fact.first_ns
        if fact.chain_pair and not pair.get(fact.swap_id):
            pair[fact.swap_id] = fact.chain_pair
    out = []
    for swap_id, seen in sorted(first.items()):
        if states.lock in seen and all(claim in seen for claim in states.claims):
            out.append(
                SwapCompletion(
                    swap_id=swap_id,
                    chain_pair=pair.get(swap_id, ""),
                    lock_ns=seen[states.lock],
                    final_ns=max(seen[claim] for claim in states.claims),
                )
            )
    return out


def finality_report(completions: Sequence[SwapCompletion], window: TimeWindow) -> FinalityReport:
    by_pair: dict[str, list[int]] = defaultdict(list)
    for swap in completions:
        by_pair[swap.chain_pair].append(swap.finality_ns)
    pairs = tuple(
        FinalityByPair(
            chain_pair=name,
            swaps=len(values),
            p50_ns=nearest_rank(values, 50),
            p95_ns=nearest_rank(values, 95),
        )
        for name, values in sorted(by_pair.items())
    )
    return FinalityReport(window=window, completed=len(completions), pairs=pairs)


def leg_slippage_bps(quoted_out: int, executed_out: int) -> Decimal:
    """Exact slippage of one leg in basis points (quoted_out > 0); >0 means worse than quoted."""
    return Decimal((quoted_out - executed_out) * BPS) / Decimal(quoted_out)


def settlement_efficiency(
    gas: Sequence[GasFact],
    batches: Sequence[BatchFact],
    legs: Sequence[LegFact],
    window: TimeWindow,
) -> SettlementEfficiency:
    gas_values = [fact.gas for fact in gas]
    gas_total = sum(gas_values)
    swaps_in_batches = sum(fact.batch_size for fact in batches)
    priced = [leg for leg in legs if leg.quoted_out > 0]
    quoted = sum(leg.quoted_out for leg in priced)
    executed = sum(leg.executed_out for leg in priced)
    per_leg = [leg_slippage_bps(leg.quoted_out, leg.executed_out) for leg in priced]
    return SettlementEfficiency(
        window=window,
        swaps_with_gas=len(gas_values),
        gas_total=gas_total,
        gas_per_swap=Decimal(gas_total) / len(gas_values) if gas_values else None,
        gas_per_swap_p50=nearest_rank(gas_values, 50) if gas_values else None,
        gas_per_swap_p95=nearest_rank(gas_values, 95) if gas_values else None,
        batches=len(batches),
        swaps_in_batches=swaps_in_batches,
        swaps_per_batch=Decimal(swaps_in_batches) / len(batches) if batches else None,
        legs=len(priced),
        quoted_out_total=quoted,
        executed_out_total=executed,
        slippage_bps=leg_slippage_bps(quoted, executed) if priced else None,
        slippage_bps_p50=nearest_rank(per_leg, 50) if per_leg else None,
        slippage_bps_p95=nearest_rank(per_leg, 95) if per_leg else None,
    )


def throughput(quotes: int, swaps_completed: int, window: TimeWindow) -> Throughput:
    duration = Decimal(window.duration_ns)
    return Throughput(
        window=window,
        quotes=quotes,
        quotes_per_second=Decimal(quotes * NS_PER_SECOND) / duration,
        swaps_completed=swaps_completed,
        swaps_per_hour=Decimal(swaps_completed * NS_PER_HOUR) / duration,
    )


def sync_latency_report(facts: Iterable[LatencyFact], window: TimeWindow) -> SyncLatencyReport:
    by_source: dict[str, list[int]] = defaultdict(list)
    for fact in facts:
        by_source[fact.source].append(fact.latency_ns)
    sources = tuple(
        SyncLatencyBySource(
            source=name,
            samples=len(values),
            p50_ns=nearest_rank(values, 50),
            p99_ns=nearest_rank(values, 99),
        )
        for name, values in sorted(by_source.items())
    )
    return SyncLatencyReport(window=window, sources=sources)
