"""Against a real QuestDB server, when ``QUESTDB_HTTP`` names one (e.g. http://127.0.0.1:9000).

Every test uses tables under a fresh prefix and drops them afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from aggregator.journal.aggregate import (
    LatencyFact,
    SwapStates,
    TimeWindow,
    sync_latency_report,
)
from aggregator.journal.audit import export_audit
from aggregator.journal.config import JournalConfig
from aggregator.journal.events import ChainHeadEvent, Event, LegExecutionEvent, SwapEvent
from aggregator.journal.metrics import Analytics
from aggregator.journal.outbox import Outbox
from aggregator.journal.questdb_http import QuestDBHttp
from aggregator.journal.schema import TABLES
from aggregator.journal.shipper import Shipper, ensure_tables
from tests.journal.helpers import make_events, wait_until

QUESTDB = os.environ.get("QUESTDB_HTTP")
pytestmark = pytest.mark.skipif(
    not QUESTDB, reason="QUESTDB_HTTP is not set: no QuestDB server to test against"
)

S = 1_000_000_000


@pytest.fixture
async def questdb() -> AsyncIterator[tuple[QuestDBHttp, JournalConfig]]:
    assert QUESTDB is not None
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    config = JournalConfig(
        questdb_http=QUESTDB, table_prefix=prefix, block_ms=50, backoff_initial_ms=50
    )
    http = QuestDBHttp(QUESTDB)
    yield http, config
    for spec in TABLES.values():
        await http.exec(f"DROP TABLE IF EXISTS {prefix}{spec.name}")
    await http.aclose()


async def applied(http: QuestDBHttp, prefix: str) -> None:
    """Wait until QuestDB has applied every committed WAL transaction of our tables."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while loop.time() < deadline:
        result = await http.exec(
            "SELECT name, suspended, writerTxn, sequencerTxn FROM wal_tables()"
        )
        ours = [r for r in result.records() if str(r["name"]).startswith(prefix)]
        assert not any(r["suspended"] for r in ours), ours
        if ours and all(r["writerTxn"] == r["sequencerTxn"] for r in ours):
            return
        await asyncio.sleep(0.2)
    raise AssertionError("WAL not applied in time")


async def count(http: QuestDBHttp, table: str) -> int:
    result = await http.exec(f"SELECT count() AS n FROM {table}")
    return int(result.records()[0]["n"])


async def ship(redis_url: str, config: JournalConfig, events: list[Event]) -> None:
    client = Redis.from_url(redis_url)
    outbox = Outbox(config)
    async with client.pipeline(transaction=True) as pipe:
        await outbox.append_many(pipe, events)
        await pipe.execute()
    shipper = Shipper(client, config)
    task = asyncio.create_task(shipper.run())
    try:
        await wait_until(lambda: shipper.stats.shipped >= len(events), within=60)
    finally:
        shipper.stop()
        await task
        await shipper.aclose()
        await client.aclose()
    assert shipper.stats.dead_lettered == 0


async def test_tables_are_created_with_dedup_and_rows_are_queryable_once(
    questdb: tuple[QuestDBHttp, JournalConfig], redis_url: str
) -> None:
    http, config = questdb
    await ensure_tables(http, config.table_prefix)
    await ensure_tables(http, config.table_prefix)  # idempotent
    events = make_events(70)
    await ship(redis_url, config, events)
    await applied(http, config.table_prefix)
    for kind, spec in TABLES.items():
        expected = sum(1 for e in events if e.kind == kind)
        assert await count(http, config.table_prefix + spec.name) == expected, kind
    quote = await http.exec(
        f"SELECT amount_in, event_id FROM {config.table_prefix}quotes WHERE event_id = 'ev-00000'"
    )
    assert quote.records() == [{"amount_in": str(10**24), "event_id": "ev-00000"}]

    await ship(redis_url, config, events)  # a replay: dedup keeps one row per event
    await applied(http, config.table_prefix)
    for kind, spec in TABLES.items():
        expected = sum(1 for e in events if e.kind == kind)
        assert await count(http, config.table_prefix + spec.name) == expected, kind


async def test_metric_queries_run_and_match_the_events(
    questdb: tuple[QuestDBHttp, JournalConfig], redis_url: str, tmp_path: Path
) -> None:
    http, config = questdb
    t0 = (1_760_000_000 // 3600) * 3600 * S
    events: list[Event] = []
    for i, (lock, claim_a, claim_b) in enumerate([(10, 40, 70), (100, 120, 130), (200, 280, 290)]):
        for at, frm, to, chain in [
            (lock, "created", "source_locked", "alpha"),
            (claim_a, "destination_locked", "source_claiming", "beta"),
            (claim_b, "source_claiming", "completed", "alpha"),
        ]:
            events.append(
                SwapEvent(
                    ts_event=t0 + at * S,
                    ts_recv=t0 + at * S + 1,
                    swap_id=f"s{i}",
                    state_from=frm,
                    state_to=to,
                    chain=chain,
                    tx_hash=f"0x{i}{at}",
                    block=at,
                    chain_pair="alpha->beta",
                    gas_used=50_000,
                    batch_size=1,
                )
            )
        events.append(
            LegExecutionEvent.create(
                swap_id=f"s{i}",
                venue="clob",
                location="clob",
                quoted_out=10_000,
                executed_out=9_950,
                ts_event=t0 + lock * S + 5,
                ts_recv=t0 + lock * S + 6,
            )
        )
    heads = [
        ChainHeadEvent.create(chain="alpha", height=h, block_time=t0 + h * S, seen=t0 + h * S + h)
        for h in range(1, 11)
    ]
    events += heads
    await ship(redis_url, config, events)  # the shipper creates the tables first
    await applied(http, config.table_prefix)

    window = TimeWindow(start_ns=t0, end_ns=t0 + 3600 * S)
    analytics = Analytics(config, states=SwapStates())
    try:
        report = await analytics.report(window)
    finally:
        await analytics.aclose()
    (pair,) = report.finality.pairs
    assert (pair.chain_pair, pair.swaps, pair.p50_ns, pair.p95_ns) == (
        "alpha->beta",
        3,
        60 * S,
        90 * S,
    )
    assert report.efficiency.gas_total == 9 * 50_000
    assert report.efficiency.slippage_bps == 50
    assert report.throughput.swaps_completed == 3
    expected = sync_latency_report(
        [LatencyFact(source="chain:alpha", latency_ns=h.ts_recv - h.ts_event) for h in heads],
        window,
    )
    assert report.sync_latency == expected

    out = tmp_path / "audit.csv"
    assert await export_audit(config, window, out) == 3
    assert out.read_text().count("alpha->beta") == 3
