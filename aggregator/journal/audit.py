"""Audit export: every swap of a time window with its legs and transactions, as CSV.

A swap belongs to the window when any of its swap events has ``ts_event`` in
``[from, to)``; its whole history is then exported, including events and legs
outside the window. The CSV has ONE ROW PER SWAP, with joined columns:

==================  ==========================================================
swap_id             the swap
chain_pair          source->destination chains
first_event_utc     first swap event, ISO 8601 UTC with nanoseconds
last_event_utc      last swap event, same format
first_event_ns      the same two instants as integer nanoseconds
last_event_ns
final_state         state after the last event
states              the state path, ``>``-separated (``awaiting_source_lock>source_locked>...``)
transactions        ``chain:tx_hash@block`` of every transaction, ``;``-separated,
                    in order of first appearance
gas_used_total      gas attributed to the swap over its transactions ('' if none)
legs                number of executed legs
leg_details         ``venue@location:quoted_out->executed_out`` per leg, ``;``-separated
quoted_out_total    sum of quoted outputs (base units)
executed_out_total  sum of executed outputs (base units)
==================  ==========================================================

Amounts are written as exact integers. Rows are ordered by first event.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from aggregator.errors import AnalyticsUnavailableError
from aggregator.journal.aggregate import TimeWindow
from aggregator.journal.config import JournalConfig
from aggregator.journal.questdb_http import QuestDBHttp, sql_string, sql_timestamp
from aggregator.journal.schema import table_name

__all__ = [
    "AUDIT_COLUMNS",
    "AuditLeg",
    "AuditRow",
    "AuditSwapEvent",
    "build_audit_rows",
    "export_audit",
    "fetch_audit_rows",
    "format_ns_utc",
    "write_audit_csv",
]

AUDIT_COLUMNS: tuple[str, ...] = (
    "swap_id",
    "chain_pair",
    "first_event_utc",
    "last_event_utc",
    "first_event_ns",
    "last_event_ns",
    "final_state",
    "states",
    "transactions",
    "gas_used_total",
    "legs",
    "leg_details",
    "quoted_out_total",
    "executed_out_total",
)

ID_CHUNK = 100
"""Swap ids per ``IN (...)`` query."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class AuditSwapEvent(_Frozen):
    ts_event: int
    event_id: str
    swap_id: str
    state_from: str = ""
    state_to: str
    chain: str = ""
    tx_hash: str = ""
    block: int | None = None
    chain_pair: str = ""
    gas_used: int | None = None
    batch_size: int | None = None


class AuditLeg(_Frozen):
    ts_event: int
    event_id: str
    swap_id: str
    venue: str = ""
    location: str = ""
    quoted_out: int
    executed_out: int


class AuditRow(_Frozen):
    swap_id: str
    chain_pair: str
    first_event_ns: int
    last_event_ns: int
    final_state: str
    states: tuple[str, ...]
    transactions: tuple[str, ...]
    gas_used_total: int | None
    legs: tuple[AuditLeg, ...]

    def csv_fields(self) -> list[str]:
        return [
            self.swap_id,
            self.chain_pair,
            format_ns_utc(self.first_event_ns),
            format_ns_utc(self.last_event_ns),
            str(self.first_event_ns),
            str(self.last_event_ns),
            self.final_state,
            ">".join(self.states),
            ";".join(self.transactions),
            "" if self.gas_used_total is None else str(self.gas_used_total),
            str(len(self.legs)),
            ";".join(
                f"{leg.venue}@{leg.location}:{leg.quoted_out}->{leg.executed_out}"
                for leg in self.legs
            ),
            str(sum(leg.quoted_out for leg in self.legs)),
            str(sum(leg.executed_out for leg in self.legs)),
        ]


def format_ns_utc(ns: int) -> str:
    """ISO 8601 UTC with nine fractional digits."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{rest:09d}Z"


def build_audit_rows(events: Iterable[AuditSwapEvent], legs: Iterable[AuditLeg]) -> list[AuditRow]:
    """Group events and legs by swap into one row per swap, ordered by first event."""
    by_swap: dict[str, list[AuditSwapEvent]] = defaultdict(list)
    for event in events:
        by_swap[event.swap_id].append(event)
    legs_by_swap: dict[str, list[AuditLeg]] = defaultdict(list)
    for leg in legs:
        legs_by_swap[leg.swap_id].append(leg)
    rows = []
    for swap_id, history in by_swap.items():
        history.sort(key=lambda e: (e.ts_event, e.event_id))
        states = [history[0].state_from] if history[0].state_from else []
        states += [e.state_to for e in history]
        transactions: list[str] = []
        for e in history:
            if e.tx_hash:
                tx = f"{e.chain}:{e.tx_hash}" + (f"@{e.block}" if e.block is not None else "")
                if tx not in transactions:
                    transactions.append(tx)
        gas = [e.gas_used for e in history if e.gas_used is not None]
        rows.append(
            AuditRow(
                swap_id=swap_id,
                chain_pair=next((e.chain_pair for e in history if e.chain_pair), ""),
                first_event_ns=history[0].ts_event,
                last_event_ns=history[-1].ts_event,
                final_state=history[-1].state_to,
                states=tuple(states),
                transactions=tuple(transactions),
                gas_used_total=sum(gas) if gas else None,
                legs=tuple(sorted(legs_by_swap[swap_id], key=lambda x: (x.ts_event, x.event_id))),
            )
        )
    rows.sort(key=lambda r: (r.first_event_ns, r.swap_id))
    return rows


def write_audit_csv(rows: Sequence[AuditRow], path: Path) -> None:
    """Write the CSV atomically (a temporary file renamed over ``path``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(AUDIT_COLUMNS)
            for row in rows:
                writer.writerow(row.csv_fields())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def fetch_audit_rows(
    http: QuestDBHttp, window: TimeWindow, prefix: str = ""
) -> list[AuditRow]:
    """Query the swaps of the window, then their full histories and legs."""
    swaps = table_name("swap_event", prefix)
    legs_table = table_name("leg_execution", prefix)
    window_sql = f"ts >= {sql_timestamp(window.start_ns)} AND ts < {sql_timestamp(window.end_ns)}"
    found = await http.exec(f"SELECT DISTINCT swap_id FROM {swaps} WHERE {window_sql}")
    ids = sorted({str(r["swap_id"]) for r in found.records() if r["swap_id"] is not None})
    events: list[AuditSwapEvent] = []
    legs: list[AuditLeg] = []
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ", ".join(sql_string(i) for i in ids[start : start + ID_CHUNK])
        history = await http.exec(
            "SELECT ts_event, event_id, swap_id, state_from, state_to, chain, tx_hash, block, "
            f"chain_pair, gas_used, batch_size FROM {swaps} WHERE swap_id IN ({chunk}) "
            "ORDER BY ts"
        )
        events += history.as_models(AuditSwapEvent)
        executed = await http.exec(
            "SELECT ts_event, event_id, swap_id, venue, location, quoted_out, executed_out "
            f"FROM {legs_table} WHERE swap_id IN ({chunk}) ORDER BY ts"
        )
        legs += executed.as_models(AuditLeg)
    return build_audit_rows(events, legs)


async def export_audit(
    config: JournalConfig, window: TimeWindow, out: Path, *, http: QuestDBHttp | None = None
) -> int:
    """Write the audit CSV for the window; returns the number of swaps written."""
    owned = http is None
    if http is None:
        if config.questdb_http is None:
            raise AnalyticsUnavailableError("QuestDB is not configured")
        http = QuestDBHttp(config.questdb_http, timeout_s=config.query_timeout_s)
    try:
        rows = await fetch_audit_rows(http, window, config.table_prefix)
    finally:
        if owned:
            await http.aclose()
    write_audit_csv(rows, out)
    return len(rows)
