"""QuestDB tables for the audit events, and the conversion of an event to a row.

One table per event kind. Every table has the designated timestamp ``ts``
(the event's ``ts_event``), the columns ``event_id`` (VARCHAR), ``ts_event``
and ``ts_recv`` (LONG, exact nanoseconds, from which latencies are computed),
then the kind's own columns. Tables are WAL tables partitioned by day with
``DEDUP UPSERT KEYS(ts, event_id)``: writing the same event twice leaves one
row, which turns the shipper's at-least-once delivery into exactly-once rows.

Column types:

- ``SYMBOL``: low-cardinality names (venue, chain, state); '' is sent as NULL.
- ``VARCHAR``: free text and ids.
- ``AMOUNT``: a base-unit integer, stored as VARCHAR holding its decimal digits,
  because amounts can exceed a signed 64-bit LONG.
- ``LONG``: a signed 64-bit integer.
- ``DOUBLE``: display values only.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from aggregator.journal.events import Event, EventKind

__all__ = [
    "COMMON_COLUMNS",
    "TABLES",
    "ColumnType",
    "Row",
    "TableSpec",
    "create_table_sql",
    "event_to_row",
    "table_name",
]


class ColumnType(StrEnum):
    SYMBOL = "SYMBOL"
    VARCHAR = "VARCHAR"
    AMOUNT = "AMOUNT"
    LONG = "LONG"
    DOUBLE = "DOUBLE"

    @property
    def sql(self) -> str:
        """The QuestDB column type used in DDL."""
        return "VARCHAR" if self is ColumnType.AMOUNT else self.value


class TableSpec(BaseModel):
    """One event kind's table: its name and its columns in order."""

    model_config = ConfigDict(frozen=True)

    kind: str
    name: str
    columns: tuple[tuple[str, ColumnType], ...]

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(name for name, kind in self.columns if kind is ColumnType.SYMBOL)

    @property
    def fields(self) -> tuple[tuple[str, ColumnType], ...]:
        """Non-symbol columns, including the common ones."""
        return tuple((name, kind) for name, kind in self.columns if kind is not ColumnType.SYMBOL)


COMMON_COLUMNS: tuple[tuple[str, ColumnType], ...] = (
    ("event_id", ColumnType.VARCHAR),
    ("ts_event", ColumnType.LONG),
    ("ts_recv", ColumnType.LONG),
)

_S, _V, _A, _L, _D = (
    ColumnType.SYMBOL,
    ColumnType.VARCHAR,
    ColumnType.AMOUNT,
    ColumnType.LONG,
    ColumnType.DOUBLE,
)


def _spec(kind: EventKind, name: str, *columns: tuple[str, ColumnType]) -> TableSpec:
    return TableSpec(kind=kind, name=name, columns=(*COMMON_COLUMNS, *columns))


TABLES: Mapping[str, TableSpec] = {
    spec.kind: spec
    for spec in (
        _spec(
            "quote",
            "quotes",
            ("quote_id", _V),
            ("sell", _S),
            ("buy", _S),
            ("amount_in", _A),
            ("amount_out", _A),
            ("legs", _L),
            ("route", _V),
            ("compute_ns", _L),
        ),
        _spec(
            "route_leg",
            "route_legs",
            ("quote_id", _V),
            ("leg", _L),
            ("venue", _S),
            ("location", _S),
            ("amount_in", _A),
            ("amount_out", _A),
        ),
        _spec(
            "leg_execution",
            "leg_executions",
            ("swap_id", _V),
            ("venue", _S),
            ("location", _S),
            ("quoted_out", _A),
            ("executed_out", _A),
            ("slippage_bps", _L),
        ),
        _spec(
            "swap_event",
            "swap_events",
            ("swap_id", _V),
            ("state_from", _S),
            ("state_to", _S),
            ("chain", _S),
            ("tx_hash", _V),
            ("block", _L),
            ("chain_pair", _S),
            ("gas_used", _L),
            ("batch_size", _L),
        ),
        _spec(
            "chain_head",
            "chain_heads",
            ("chain", _S),
            ("height", _L),
            ("block_time", _L),
            ("seen", _L),
        ),
        _spec(
            "book_top",
            "book_tops",
            ("venue", _S),
            ("market", _S),
            ("bid", _D),
            ("ask", _D),
            ("bid_size", _D),
            ("ask_size", _D),
        ),
        _spec(
            "connector_health",
            "connector_health",
            ("connector", _S),
            ("status", _S),
            ("reason", _V),
            ("age_ms", _L),
        ),
    )
}


def table_name(kind: str, prefix: str = "") -> str:
    """The QuestDB table of an event kind, with the configured prefix."""
    return prefix + TABLES[kind].name


def create_table_sql(spec: TableSpec, prefix: str = "") -> str:
    """``CREATE TABLE IF NOT EXISTS`` for one table (idempotent)."""
    cols = ",\n    ".join(f"{name} {kind.sql}" for name, kind in spec.columns)
    return (
        f"CREATE TABLE IF NOT EXISTS {prefix}{spec.name} (\n"
        f"    ts TIMESTAMP,\n    {cols}\n"
        ") TIMESTAMP(ts) PARTITION BY DAY WAL\n"
        "DEDUP UPSERT KEYS(ts, event_id)"
    )


ColumnValue = int | float | str | None


class Row(BaseModel):
    """One ILP row: table, symbol values, column values and the designated timestamp (ns)."""

    model_config = ConfigDict(frozen=True)

    table: str
    symbols: dict[str, str | None]
    columns: dict[str, ColumnValue]
    ts_ns: int


def _column_value(kind: ColumnType, value: object) -> ColumnValue:
    if value is None:
        return None
    if kind is ColumnType.AMOUNT:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"amount must be an int, got {type(value).__name__}")
        return str(value)
    if kind is ColumnType.LONG:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"LONG column needs an int, got {type(value).__name__}")
        return value
    if kind is ColumnType.DOUBLE:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise TypeError(f"DOUBLE column needs a number, got {type(value).__name__}")
        return float(value)
    return str(value)


def event_to_row(event: Event, prefix: str = "") -> Row:
    """The row an event becomes; column names are the model's field names."""
    spec = TABLES[event.kind]
    symbols: dict[str, str | None] = {}
    columns: dict[str, ColumnValue] = {}
    for name, kind in spec.columns:
        value = getattr(event, name)
        if kind is ColumnType.SYMBOL:
            symbols[name] = str(value) if value not in (None, "") else None
        else:
            columns[name] = _column_value(kind, value)
    return Row(table=prefix + spec.name, symbols=symbols, columns=columns, ts_ns=event.ts_event)
