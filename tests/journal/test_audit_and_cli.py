"""Audit export (one CSV row per swap) and the ``report`` / ``audit export`` commands."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from aggregator.cli import main
from aggregator.journal.audit import (
    AUDIT_COLUMNS,
    AuditLeg,
    AuditSwapEvent,
    build_audit_rows,
    format_ns_utc,
)
from aggregator.journal.cli import parse_iso_ns

S = 1_000_000_000
T0 = parse_iso_ns("2025-10-09T12:00:00Z")
URL = "http://questdb.test:9000"


def ev(swap: str, at_s: int, frm: str, to: str, **extra: Any) -> AuditSwapEvent:
    return AuditSwapEvent(
        ts_event=T0 + at_s * S,
        event_id=f"{swap}-{at_s}",
        swap_id=swap,
        state_from=frm,
        state_to=to,
        chain_pair=extra.pop("chain_pair", "alpha->beta"),
        **extra,
    )


EVENTS = [
    # listed out of order on purpose
    ev("s1", 30, "destination_locked", "source_claiming", chain="beta", tx_hash="0xb2", block=7),
    ev("s1", 10, "created", "source_locked", chain="alpha", tx_hash="0xa1", block=100),
    ev("s1", 20, "source_locked", "destination_locked", chain="beta", tx_hash="0xb1", block=5,
       gas_used=40_000, batch_size=2),
    ev("s1", 40, "source_claiming", "completed", chain="alpha", tx_hash="0xa2", block=110,
       gas_used=30_000, batch_size=2),
    ev("s2", 15, "created", "source_locked", chain="alpha", tx_hash="0xa9", block=101,
       chain_pair="alpha->gamma"),
    ev("s2", 25, "source_locked", "source_locked", chain="alpha", tx_hash="0xa9", block=101,
       chain_pair="alpha->gamma"),
]  # fmt: skip
LEGS = [
    AuditLeg(
        ts_event=T0 + 22 * S,
        event_id="l2",
        swap_id="s1",
        venue="amm-beta",
        location="beta",
        quoted_out=5 * 10**20,
        executed_out=4 * 10**20,
    ),
    AuditLeg(
        ts_event=T0 + 21 * S,
        event_id="l1",
        swap_id="s1",
        venue="clob",
        location="clob",
        quoted_out=10**24,
        executed_out=10**24 - 1,
    ),
]


def test_one_row_per_swap_with_its_legs_and_transactions() -> None:
    rows = build_audit_rows(EVENTS, LEGS)
    assert [r.swap_id for r in rows] == ["s1", "s2"]
    s1, s2 = (r.csv_fields() for r in rows)
    record = dict(zip(AUDIT_COLUMNS, s1, strict=True))
    assert record == {
        "swap_id": "s1",
        "chain_pair": "alpha->beta",
        "first_event_utc": "2025-10-09T12:00:10.000000000Z",
        "last_event_utc": "2025-10-09T12:00:40.000000000Z",
        "first_event_ns": str(T0 + 10 * S),
        "last_event_ns": str(T0 + 40 * S),
        "final_state": "completed",
        "states": "created>source_locked>destination_locked>source_claiming>completed",
        "transactions": "alpha:0xa1@100;beta:0xb1@5;beta:0xb2@7;alpha:0xa2@110",
        "gas_used_total": "70000",
        "legs": "2",
        "leg_details": (
            f"clob@clob:{10**24}->{10**24 - 1};amm-beta@beta:{5 * 10**20}->{4 * 10**20}"
        ),
        "quoted_out_total": str(10**24 + 5 * 10**20),
        "executed_out_total": str(10**24 - 1 + 4 * 10**20),
    }
    record2 = dict(zip(AUDIT_COLUMNS, s2, strict=True))
    assert record2["transactions"] == "alpha:0xa9@101"  # the same transaction once
    assert (record2["legs"], record2["leg_details"], record2["gas_used_total"]) == ("0", "", "")


def test_iso_times_parse_to_exact_nanoseconds() -> None:
    assert parse_iso_ns("1970-01-01T00:00:01.000001Z") == 1_000_001_000
    assert parse_iso_ns("2025-10-09T12:00:00") == parse_iso_ns("2025-10-09T14:00:00+02:00")
    assert format_ns_utc(1_000_001_234) == "1970-01-01T00:00:01.000001234Z"


def _answer(columns: list[str], rows: list[list[Any]]) -> httpx.Response:
    cols = [{"name": c, "type": "VARCHAR"} for c in columns]
    return httpx.Response(200, json={"query": "", "columns": cols, "dataset": rows})


def _questdb(request: httpx.Request, seen: list[str]) -> httpx.Response:
    sql = request.url.params["query"]
    seen.append(sql)
    if sql.startswith("SELECT DISTINCT swap_id"):
        return _answer(["swap_id"], [["s2"], ["s1"]])
    if "FROM swap_events WHERE swap_id IN" in sql:
        cols = list(AuditSwapEvent.model_fields)
        rows = [[getattr(e, c) or None for c in cols] for e in EVENTS]
        return _answer(cols, rows)
    if "FROM leg_executions WHERE swap_id IN" in sql:
        cols = list(AuditLeg.model_fields)
        amounts = ("quoted_out", "executed_out")  # VARCHAR columns: decimal digits
        rows = [
            [str(v) if k in amounts else v for k, v in leg.model_dump().items()] for leg in LEGS
        ]
        return _answer(cols, rows)
    if "count()" in sql:
        return _answer(["quotes"], [[7200]])
    return _answer(["unused"], [])


def test_audit_export_command_writes_the_csv(tmp_path: Path) -> None:
    seen: list[str] = []
    out = tmp_path / "audit" / "swaps.csv"
    with respx.mock:
        respx.get(f"{URL}/exec").mock(side_effect=lambda r: _questdb(r, seen))
        code = main(
            [
                "audit", "export", "--questdb-http", URL,
                "--from", "2025-10-09T12:00:00Z", "--to", "2025-10-09T13:00:00Z",
                "--out", str(out),
            ]
        )  # fmt: skip
    assert code == 0
    assert "ts >= '2025-10-09T12:00:00.000000Z' AND ts < '2025-10-09T13:00:00.000000Z'" in seen[0]
    assert "swap_id IN ('s1', 's2')" in seen[1]
    with out.open(newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == list(AUDIT_COLUMNS)
    assert table[1:] == [row.csv_fields() for row in build_audit_rows(EVENTS, LEGS)]


def test_report_command_prints_every_metric(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock:
        respx.get(f"{URL}/exec").mock(side_effect=lambda r: _questdb(r, []))
        code = main(
            [
                "report", "--questdb-http", URL, "--json",
                "--from", "2025-10-09T12:00:00Z", "--to", "2025-10-09T13:00:00Z",
            ]
        )  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["throughput"]["quotes"] == 7200
    assert report["throughput"]["quotes_per_second"] == "2"
    with respx.mock:
        respx.get(f"{URL}/exec").mock(side_effect=lambda r: _questdb(r, []))
        assert main(["report", "--questdb-http", URL, "--from", "2025-10-09T12:00:00Z"]) == 0
    text = capsys.readouterr().out
    assert "finality (trader lock -> both claims)" in text
    assert "state-sync latency" in text


def test_commands_without_questdb_fail_with_analytics_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AGGREGATOR_QUESTDB_HTTP", raising=False)
    assert main(["report"]) == 1
    out = tmp_path / "x.csv"
    args = ["audit", "export", "--from", "2025-01-01", "--to", "2025-01-02", "--out", str(out)]
    assert main(args) == 1
    assert not out.exists()
    assert capsys.readouterr().err.count("error [analytics_unavailable]") == 2
