"""Metrics as SQL over the journal tables, served by :class:`Analytics`.

Each metric is one or more QuestDB queries (run through ``/exec``) returning
facts, one row per swap, transaction, leg or event; the pure functions of
:mod:`aggregator.journal.aggregate` turn the facts into the figures, with
nearest-rank percentiles. Windows filter on the designated timestamp ``ts``
(the event's ``ts_event``), ``[start, end)``.

- Finality: per swap and state, the first time it was reached; a swap is final
  once the trader's lock and both claims are in the window; finality is the
  last claim minus the lock, p50 and p95 per chain pair.
- Settlement efficiency: gas per swap, swaps per settlement transaction, and
  executed against quoted output of every leg.
- Throughput: quotes per second and final swaps per hour over the window.
- State-sync latency: ``ts_recv - ts_event`` of chain heads (per chain) and book
  tops (per venue), p50 and p99.

Without a configured QuestDB, or when it cannot be reached, every method raises
:class:`AnalyticsUnavailableError` (HTTP 503, code ``analytics_unavailable``).
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from aggregator.errors import AnalyticsUnavailableError
from aggregator.journal.aggregate import (
    BatchFact,
    FinalityReport,
    GasFact,
    LatencyFact,
    LegFact,
    SettlementEfficiency,
    SwapStateFact,
    SwapStates,
    SyncLatencyReport,
    Throughput,
    TimeWindow,
    finality_report,
    settlement_efficiency,
    swap_completions,
    sync_latency_report,
    throughput,
)
from aggregator.journal.config import JournalConfig
from aggregator.journal.questdb_http import QuestDBHttp, sql_string, sql_timestamp
from aggregator.journal.schema import table_name

__all__ = [
    "Analytics",
    "AnalyticsReport",
    "batch_facts_sql",
    "finality_facts_sql",
    "gas_facts_sql",
    "latency_facts_sql",
    "leg_facts_sql",
    "quote_count_sql",
]

F = TypeVar("F", bound=BaseModel)

LATENCY_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("chain", "chain_head", "chain"),
    ("venue", "book_top", "venue"),
)
"""(label, event kind, source column) of the state-sync latency queries."""


def _where(window: TimeWindow) -> str:
    return f"ts >= {sql_timestamp(window.start_ns)} AND ts < {sql_timestamp(window.end_ns)}"


def finality_facts_sql(window: TimeWindow, states: SwapStates, prefix: str = "") -> str:
    names = ", ".join(sql_string(s) for s in (states.lock, *states.claims))
    return (
        "SELECT swap_id, chain_pair, state_to, min(ts_event) AS first_ns "
        f"FROM {table_name('swap_event', prefix)} "
        f"WHERE {_where(window)} AND state_to IN ({names}) "
        "GROUP BY swap_id, chain_pair, state_to"
    )


def gas_facts_sql(window: TimeWindow, prefix: str = "") -> str:
    return (
        "SELECT swap_id, sum(gas_used) AS gas "
        f"FROM {table_name('swap_event', prefix)} "
        f"WHERE {_where(window)} AND gas_used IS NOT NULL "
        "GROUP BY swap_id"
    )


def batch_facts_sql(window: TimeWindow, prefix: str = "") -> str:
    return (
        "SELECT chain, tx_hash, max(batch_size) AS batch_size "
        f"FROM {table_name('swap_event', prefix)} "
        f"WHERE {_where(window)} AND batch_size IS NOT NULL AND tx_hash IS NOT NULL "
        "AND tx_hash != '' "
        "GROUP BY chain, tx_hash"
    )


def leg_facts_sql(window: TimeWindow, prefix: str = "") -> str:
    return (
        "SELECT swap_id, venue, location, quoted_out, executed_out "
        f"FROM {table_name('leg_execution', prefix)} "
        f"WHERE {_where(window)}"
    )


def quote_count_sql(window: TimeWindow, prefix: str = "") -> str:
    return f"SELECT count() AS quotes FROM {table_name('quote', prefix)} WHERE {_where(window)}"


def latency_facts_sql(window: TimeWindow, kind: str, column: str, prefix: str = "") -> str:
    return (
        f"SELECT {column} AS source, ts_recv - ts_event AS latency_ns "
        f"FROM {table_name(kind, prefix)} "
        f"WHERE {_where(window)} AND {column} IS NOT NULL"
    )


class AnalyticsReport(BaseModel):
    """Every metric over one window."""

    model_config = ConfigDict(frozen=True)

    window: TimeWindow
    finality: FinalityReport
    efficiency: SettlementEfficiency
    throughput: Throughput
    sync_latency: SyncLatencyReport


class _QuoteCount(BaseModel):
    quotes: int


class Analytics:
    """The metrics the API serves under ``/v1/analytics``; async, one QuestDB HTTP client."""

    def __init__(
        self,
        config: JournalConfig,
        *,
        states: SwapStates | None = None,
        http: QuestDBHttp | None = None,
    ) -> None:
        self._prefix = config.table_prefix
        self._states = states or SwapStates()
        self._http = http
        if self._http is None and config.questdb_http is not None:
            self._http = QuestDBHttp(config.questdb_http, timeout_s=config.query_timeout_s)

    @property
    def available(self) -> bool:
        """QuestDB is configured (not a promise that it answers)."""
        return self._http is not None

    async def _query(self, sql: str, model: type[F]) -> list[F]:
        if self._http is None:
            raise AnalyticsUnavailableError("QuestDB is not configured")
        result = await self._http.exec(sql)
        return result.as_models(model)

    async def finality(self, window: TimeWindow) -> FinalityReport:
        """Trader lock to both claims, p50 and p95 per chain pair."""
        sql = finality_facts_sql(window, self._states, self._prefix)
        facts = await self._query(sql, SwapStateFact)
        return finality_report(swap_completions(facts, self._states), window)

    async def settlement_efficiency(self, window: TimeWindow) -> SettlementEfficiency:
        """Gas per swap, swaps per batch, executed against quoted output."""
        gas, batches, legs = await asyncio.gather(
            self._query(gas_facts_sql(window, self._prefix), GasFact),
            self._query(batch_facts_sql(window, self._prefix), BatchFact),
            self._query(leg_facts_sql(window, self._prefix), LegFact),
        )
        return settlement_efficiency(gas, batches, legs, window)

    async def _quote_count(self, window: TimeWindow) -> int:
        rows = await self._query(quote_count_sql(window, self._prefix), _QuoteCount)
        return rows[0].quotes if rows else 0

    async def throughput(self, window: TimeWindow) -> Throughput:
        """Quotes per second and final swaps per hour."""
        quotes, finality = await asyncio.gather(self._quote_count(window), self.finality(window))
        return throughput(quotes, finality.completed, window)

    async def sync_latency(self, window: TimeWindow) -> SyncLatencyReport:
        """ts_recv - ts_event per source, p50 and p99."""
        results = await asyncio.gather(
            *(
                self._query(latency_facts_sql(window, kind, column, self._prefix), LatencyFact)
                for _label, kind, column in LATENCY_SOURCES
            )
        )
        facts = [
            LatencyFact(source=f"{label}:{fact.source}", latency_ns=fact.latency_ns)
            for (label, _kind, _column), rows in zip(LATENCY_SOURCES, results, strict=True)
            for fact in rows
        ]
        return sync_latency_report(facts, window)

    async def report(self, window: TimeWindow) -> AnalyticsReport:
        """Every metric; the finality facts are fetched once and shared with throughput."""
        finality, efficiency, quotes, latency = await asyncio.gather(
            self.finality(window),
            self.settlement_efficiency(window),
            self._quote_count(window),
            self.sync_latency(window),
        )
        return AnalyticsReport(
            window=window,
            finality=finality,
            efficiency=efficiency,
            throughput=throughput(quotes, finality.completed, window),
            sync_latency=latency,
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
