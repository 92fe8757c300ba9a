"""Audit journal: events in a Redis outbox, shipped to QuestDB, metrics and audit export as SQL.

- :mod:`~aggregator.journal.events`: the event models (quote, route leg, leg
  execution, swap event, chain head, book top, connector health).
- :mod:`~aggregator.journal.schema`: one QuestDB table per kind, DDL, event-to-row.
- :mod:`~aggregator.journal.outbox`: ``Outbox.append`` inside a state transaction.
- :mod:`~aggregator.journal.shipper`: outbox -> QuestDB, at least once, with
  deduplicating tables (so exactly one row per event).
- :mod:`~aggregator.journal.metrics` / :mod:`~aggregator.journal.aggregate`:
  finality, settlement efficiency, throughput, state-sync latency.
- :mod:`~aggregator.journal.audit`: CSV export of swaps with legs and transactions.
"""

from aggregator.journal.aggregate import (
    FinalityByPair,
    FinalityReport,
    SettlementEfficiency,
    SwapStates,
    SyncLatencyBySource,
    SyncLatencyReport,
    Throughput,
    TimeWindow,
    nearest_rank,
)
from aggregator.journal.audit import AUDIT_COLUMNS, export_audit
from aggregator.journal.config import JournalConfig
from aggregator.journal.events import (
    BookTopEvent,
    ChainHeadEvent,
    ConnectorHealthEvent,
    Event,
    LegExecutionEvent,
    QuoteEvent,
    RouteLegEvent,
    SwapEvent,
    decode_event,
    encode_event,
    quote_event,
    quote_events,
)
from aggregator.journal.metrics import Analytics, AnalyticsReport
from aggregator.journal.outbox import Outbox
from aggregator.journal.schema import TABLES, create_table_sql, event_to_row
from aggregator.journal.shipper import Shipper, ShipperStats, ensure_tables

__all__ = [
    "AUDIT_COLUMNS",
    "TABLES",
    "Analytics",
    "AnalyticsReport",
    "BookTopEvent",
    "ChainHeadEvent",
    "ConnectorHealthEvent",
    "Event",
    "FinalityByPair",
    "FinalityReport",
    "JournalConfig",
    "LegExecutionEvent",
    "Outbox",
    "QuoteEvent",
    "RouteLegEvent",
    "SettlementEfficiency",
    "Shipper",
    "ShipperStats",
    "SwapEvent",
    "SwapStates",
    "SyncLatencyBySource",
    "SyncLatencyReport",
    "Throughput",
    "TimeWindow",
    "create_table_sql",
    "decode_event",
    "encode_event",
    "ensure_tables",
    "event_to_row",
    "export_audit",
    "nearest_rank",
    "quote_event",
    "quote_events",
]
