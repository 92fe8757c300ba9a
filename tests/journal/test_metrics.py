"""Metrics over a fixed synthetic fact set, against values worked out by hand."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from aggregator.errors import AnalyticsUnavailableError, JournalQueryError
from aggregator.journal.aggregate import (
    BatchFact,
    GasFact,
    LatencyFact,
    LegFact,
    SwapStateFact,
    SwapStates,
    TimeWindow,
    finality_report,
    nearest_rank,
    settlement_efficiency,
    swap_completions,
    sync_latency_report,
    throughput,
)
from aggregator.journal.config import JournalConfig
from aggregator.journal.metrics import Analytics
from aggregator.journal.questdb_http import sql_timestamp
from tests.fixtures.processes import free_port

S = 1_000_000_000
MS = 1_000_000
T0 = 1_760_000_000 * S
WINDOW = TimeWindow(start_ns=T0, end_ns=T0 + 1800 * S)


def state(swap: str, to: str, at_s: int, pair: str = "alpha->beta") -> SwapStateFact:
    return SwapStateFact(swap_id=swap, chain_pair=pair, state_to=to, first_ns=T0 + at_s * S)


STATE_FACTS = [
    # s1: lock at 10 s (one row lacks the pair), claims at 40 s and 70 s -> 60 s
    state("s1", "source_locked", 10, pair=""),
    state("s1", "source_locked", 12),
    state("s1", "source_claiming", 40),
    state("s1", "completed", 70),
    # s2: claims in the other order -> 130 - 100 = 30 s
    state("s2", "source_locked", 100),
    state("s2", "completed", 130),
    state("s2", "source_claiming", 120),
    # s3: -> 290 - 200 = 90 s
    state("s3", "source_locked", 200),
    state("s3", "source_claiming", 280),
    state("s3", "completed", 290),
    # s4 on another pair: -> 350 - 300 = 50 s
    state("s4", "source_locked", 300, pair="beta->gamma"),
    state("s4", "source_claiming", 345, pair="beta->gamma"),
    state("s4", "completed", 350, pair="beta->gamma"),
    # not final: lock only; lock and one claim; claims without the lock
    state("s5", "source_locked", 400),
    state("s6", "source_locked", 400, pair="beta->gamma"),
    state("s6", "source_claiming", 420, pair="beta->gamma"),
    state("s7", "source_claiming", 500),
    state("s7", "completed", 510),
]
GAS_FACTS = [
    GasFact(swap_id="s1", gas=120_000),
    GasFact(swap_id="s2", gas=90_000),
    GasFact(swap_id="s3", gas=150_000),
    GasFact(swap_id="s4", gas=60_000),
]
BATCH_FACTS = [
    BatchFact(chain="alpha", tx_hash="0xa", batch_size=3),
    BatchFact(chain="alpha", tx_hash="0xb", batch_size=1),
    BatchFact(chain="beta", tx_hash="0xc", batch_size=2),
]
LEG_FACTS = [
    LegFact(swap_id="s1", quoted_out=10_000, executed_out=9_950),  # 50 bps worse
    LegFact(swap_id="s2", quoted_out=20_000, executed_out=20_010),  # 5 bps better
    LegFact(swap_id="s3", quoted_out=50_000, executed_out=49_700),  # 60 bps worse
    LegFact(swap_id="s4", quoted_out=0, executed_out=0),  # nothing quoted: left out
]
LATENCY_FACTS = [
    LatencyFact(source="chain:alpha", latency_ns=k * MS) for k in range(100, 0, -1)
] + [
    LatencyFact(source="venue:clob", latency_ns=5 * MS),
    LatencyFact(source="venue:clob", latency_ns=1 * MS),
    LatencyFact(source="venue:clob", latency_ns=3 * MS),
]


def test_nearest_rank_follows_its_definition() -> None:
    values = [35, 20, 15, 50, 40]  # sorted: 15 20 35 40 50
    assert nearest_rank(values, 5) == 15  # rank ceil(0.25) = 1
    assert nearest_rank(values, 30) == 20  # rank ceil(1.5) = 2
    assert nearest_rank(values, 40) == 20  # rank 2 exactly
    assert nearest_rank(values, 50) == 35  # rank ceil(2.5) = 3
    assert nearest_rank(values, 100) == 50
    assert nearest_rank([7], 99) == 7
    with pytest.raises(ValueError):
        nearest_rank([], 50)
    with pytest.raises(ValueError):
        nearest_rank(values, 0)


def test_finality_per_chain_pair() -> None:
    completions = swap_completions(STATE_FACTS, SwapStates())
    assert [(c.swap_id, c.chain_pair, c.finality_ns) for c in completions] == [
        ("s1", "alpha->beta", 60 * S),
        ("s2", "alpha->beta", 30 * S),
        ("s3", "alpha->beta", 90 * S),
        ("s4", "beta->gamma", 50 * S),
    ]
    report = finality_report(completions, WINDOW)
    assert report.completed == 4
    pairs = {p.chain_pair: p for p in report.pairs}
    # alpha->beta sorted: 30 60 90 s; p50 rank ceil(1.5) = 2, p95 rank ceil(2.85) = 3
    assert (pairs["alpha->beta"].swaps, pairs["alpha->beta"].p50_ns) == (3, 60 * S)
    assert pairs["alpha->beta"].p95_ns == 90 * S
    assert (pairs["beta->gamma"].swaps, pairs["beta->gamma"].p50_ns) == (1, 50 * S)
    assert pairs["beta->gamma"].p95_ns == 50 * S


def test_settlement_efficiency() -> None:
    eff = settlement_efficiency(GAS_FACTS, BATCH_FACTS, LEG_FACTS, WINDOW)
    assert eff.swaps_with_gas == 4
    assert eff.gas_total == 420_000
    assert eff.gas_per_swap == Decimal(105_000)
    assert eff.gas_per_swap_p50 == 90_000  # sorted 60k 90k 120k 150k, rank 2
    assert eff.gas_per_swap_p95 == 150_000  # rank ceil(3.8) = 4
    assert (eff.batches, eff.swaps_in_batches, eff.swaps_per_batch) == (3, 6, Decimal(2))
    assert (eff.legs, eff.quoted_out_total, eff.executed_out_total) == (3, 80_000, 79_660)
    assert eff.slippage_bps == Decimal("42.5")  # 340 * 10000 / 80000
    assert eff.slippage_bps_p50 == Decimal(50)  # sorted -5 50 60
    assert eff.slippage_bps_p95 == Decimal(60)


def test_settlement_efficiency_of_nothing_is_empty_not_zero() -> None:
    eff = settlement_efficiency([], [], [], WINDOW)
    assert eff.gas_per_swap is None and eff.swaps_per_batch is None
    assert eff.slippage_bps is None and eff.legs == 0


def test_throughput() -> None:
    rate = throughput(quotes=900, swaps_completed=4, window=WINDOW)  # 30-minute window
    assert rate.quotes_per_second == Decimal("0.5")
    assert rate.swaps_per_hour == Decimal(8)


def test_sync_latency_per_source() -> None:
    report = sync_latency_report(LATENCY_FACTS, WINDOW)
    by = {s.source: s for s in report.sources}
    assert (by["chain:alpha"].samples, by["chain:alpha"].p50_ns, by["chain:alpha"].p99_ns) == (
        100,
        50 * MS,
        99 * MS,
    )
    assert (by["venue:clob"].samples, by["venue:clob"].p50_ns, by["venue:clob"].p99_ns) == (
        3,
        3 * MS,
        5 * MS,
    )


def test_sql_timestamp_literal() -> None:
    assert sql_timestamp(1_700_000_000_123_456_789) == "'2023-11-14T22:13:20.123456Z'"
    assert sql_timestamp(0) == "'1970-01-01T00:00:00.000000Z'"


# -- the Analytics class over a stand-in for QuestDB's /exec answers -----------


def _exec_answer(columns: list[tuple[str, str]], rows: list[list[Any]]) -> dict[str, Any]:
    return {
        "query": "",
        "columns": [{"name": n, "type": t} for n, t in columns],
        "dataset": rows,
        "count": len(rows),
    }


def _answers(sql: str) -> dict[str, Any]:
    """QuestDB-shaped answers to the metric queries, from the fact set above."""
    if "min(ts_event)" in sql:
        cols = [("swap_id", "VARCHAR"), ("chain_pair", "SYMBOL"), ("state_to", "SYMBOL")]
        cols.append(("first_ns", "LONG"))
        rows = [[f.swap_id, f.chain_pair or None, f.state_to, f.first_ns] for f in STATE_FACTS]
        return _exec_answer(cols, rows)
    if "sum(gas_used)" in sql:
        rows = [[f.swap_id, f.gas] for f in GAS_FACTS]
        return _exec_answer([("swap_id", "VARCHAR"), ("gas", "LONG")], rows)
    if "max(batch_size)" in sql:
        cols = [("chain", "SYMBOL"), ("tx_hash", "VARCHAR"), ("batch_size", "LONG")]
        return _exec_answer(cols, [[f.chain, f.tx_hash, f.batch_size] for f in BATCH_FACTS])
    if "quoted_out" in sql:
        cols = [("swap_id", "VARCHAR"), ("venue", "SYMBOL"), ("location", "SYMBOL")]
        cols += [("quoted_out", "VARCHAR"), ("executed_out", "VARCHAR")]
        rows = [[f.swap_id, None, None, str(f.quoted_out), str(f.executed_out)] for f in LEG_FACTS]
        return _exec_answer(cols, rows)
    if "count()" in sql:
        return _exec_answer([("quotes", "LONG")], [[900]])
    if "latency_ns" in sql:
        prefix = "chain:" if "chain_heads" in sql else "venue:"
        rows = [
            [f.source.removeprefix(prefix), f.latency_ns]
            for f in LATENCY_FACTS
            if f.source.startswith(prefix)
        ]
        return _exec_answer([("source", "SYMBOL"), ("latency_ns", "LONG")], rows)
    raise AssertionError(f"unexpected query {sql}")


@respx.mock
async def test_analytics_turns_query_rows_into_the_same_figures() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sql = request.url.params["query"]
        seen.append(sql)
        return httpx.Response(200, json=_answers(sql))

    respx.get("http://questdb.test:9000/exec").mock(side_effect=handler)
    analytics = Analytics(JournalConfig(questdb_http="http://questdb.test:9000", table_prefix="p_"))
    try:
        report = await analytics.report(WINDOW)
    finally:
        await analytics.aclose()

    assert report.finality == finality_report(swap_completions(STATE_FACTS, SwapStates()), WINDOW)
    assert report.efficiency == settlement_efficiency(GAS_FACTS, BATCH_FACTS, LEG_FACTS, WINDOW)
    assert report.throughput.quotes_per_second == Decimal("0.5")
    assert report.throughput.swaps_per_hour == Decimal(8)
    assert report.sync_latency == sync_latency_report(LATENCY_FACTS, WINDOW)
    window_sql = f"ts >= {sql_timestamp(WINDOW.start_ns)} AND ts < {sql_timestamp(WINDOW.end_ns)}"
    assert seen and all(window_sql in sql for sql in seen)
    tables = {word for sql in seen for word in sql.split() if word.startswith("p_")}
    assert tables == {
        "p_swap_events",
        "p_leg_executions",
        "p_quotes",
        "p_chain_heads",
        "p_book_tops",
    }
    assert json.loads(report.model_dump_json())["efficiency"]["slippage_bps"] == "42.5"


async def test_analytics_without_questdb_is_unavailable() -> None:
    analytics = Analytics(JournalConfig())
    assert not analytics.available
    for call in (
        analytics.finality,
        analytics.settlement_efficiency,
        analytics.throughput,
        analytics.sync_latency,
        analytics.report,
    ):
        with pytest.raises(AnalyticsUnavailableError) as info:
            await call(WINDOW)
        assert (info.value.code, info.value.status) == ("analytics_unavailable", 503)


async def test_analytics_with_questdb_unreachable_is_unavailable() -> None:
    port = free_port()  # nothing listens there
    analytics = Analytics(JournalConfig(questdb_http=f"http://127.0.0.1:{port}"))
    try:
        with pytest.raises(AnalyticsUnavailableError):
            await analytics.throughput(WINDOW)
    finally:
        await analytics.aclose()


@respx.mock
async def test_an_sql_error_is_a_query_error() -> None:
    body = {"query": "x", "error": "table does not exist [table=swap_events]", "position": 70}
    respx.get("http://questdb.test:9000/exec").mock(return_value=httpx.Response(400, json=body))
    analytics = Analytics(JournalConfig(questdb_http="http://questdb.test:9000"))
    try:
        with pytest.raises(JournalQueryError) as info:
            await analytics.finality(WINDOW)
    finally:
        await analytics.aclose()
    assert info.value.details["position"] == 70


def test_default_finality_states_are_the_settlement_phases() -> None:
    from aggregator.settlement.swap import SwapPhase

    states = SwapStates()
    phases = {p.value for p in SwapPhase}
    assert states.lock in phases
    assert set(states.claims) <= phases
