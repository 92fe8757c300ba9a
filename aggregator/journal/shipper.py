"""The shipper: drains the outbox stream into QuestDB, losing nothing and doubling nothing.

It reads the stream as a member of a consumer group (XREADGROUP), converts each
event to a row, writes the batch with the official client in a worker thread,
and acknowledges (XACK, then XDEL) only after the flush succeeded. A failed
flush is retried with exponential backoff, capped, while the entries stay
pending; the shipper refreshes its claim on them (XCLAIM) at each retry so that
other shippers leave them alone while this one is alive. Entries left pending
by a shipper that died are taken over by another after ``claim_min_idle_ms``
(XAUTOCLAIM). On start it first re-reads its own pending entries (a restart
under the same consumer name).

Delivery is therefore at least once: a flush whose answer was lost is sent
again. The tables deduplicate on ``(ts, event_id)``, so every event ends up as
exactly one row.

Entries that cannot be decoded, or that the client refuses to encode, go to
the dead-letter stream (same transaction as their ack) instead of blocking the
outbox. Entries that the stream cap removed before they were shipped are only
counted (``trimmed``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from redis.typing import EncodableT, FieldT

from aggregator.errors import JournalError, JournalQueryError, JournalWriteError
from aggregator.journal.config import JournalConfig
from aggregator.journal.events import Event
from aggregator.journal.outbox import decode_entry
from aggregator.journal.questdb_http import QuestDBHttp
from aggregator.journal.schema import TABLES, Row, create_table_sql, event_to_row
from aggregator.journal.writer import QuestDBWriter

__all__ = ["Shipper", "ShipperStats", "ensure_tables"]

log = logging.getLogger(__name__)

Entry = tuple[Any, Any]
"""A stream entry as redis-py returns it: (id, fields or None if deleted)."""


class ShipperStats(BaseModel):
    """Counters since the shipper started."""

    model_config = ConfigDict(frozen=True)

    shipped: int = 0
    batches: int = 0
    flush_failures: int = 0
    claimed: int = 0
    trimmed: int = 0
    dead_lettered: int = 0
    last_error: str | None = None


@dataclass
class _Counters:
    shipped: int = 0
    batches: int = 0
    flush_failures: int = 0
    claimed: int = 0
    trimmed: int = 0
    dead_lettered: int = 0
    last_error: str | None = None


async def ensure_tables(http: QuestDBHttp, prefix: str = "") -> None:
    """Create every journal table if missing (idempotent DDL through ``/exec``)."""
    for spec in TABLES.values():
        await http.exec(create_table_sql(spec, prefix))


class Shipper:
    """Moves outbox entries into QuestDB; run with ``await shipper.run()``, end with ``stop()``."""

    def __init__(
        self,
        redis: Redis,
        config: JournalConfig,
        *,
        writer: QuestDBWriter | None = None,
        http: QuestDBHttp | None = None,
    ) -> None:
        self._redis = redis
        self._config = config
        self._stop = asyncio.Event()
        self._counters = _Counters()
        self._writer = writer
        self._http = http
        if config.questdb_http is not None:
            if self._writer is None:
                self._writer = QuestDBWriter(config)
            if self._http is None:
                self._http = QuestDBHttp(config.questdb_http, timeout_s=config.query_timeout_s)

    @property
    def stats(self) -> ShipperStats:
        return ShipperStats(**asdict(self._counters))

    def stop(self) -> None:
        """Ask ``run`` to return after the current step; pending entries stay pending."""
        self._stop.set()

    async def aclose(self) -> None:
        self.stop()
        if self._writer is not None:
            await asyncio.to_thread(self._writer.close)
        if self._http is not None:
            await self._http.aclose()

    # -- set-up ---------------------------------------------------------------

    async def ensure_group(self) -> None:
        """Create the consumer group (and the stream) if missing."""
        try:
            await self._redis.xgroup_create(
                self._config.outbox_key, self._config.group, id="0", mkstream=True
            )
        except ResponseError as exc:
            # A Redis error reply starts with its code; BUSYGROUP: the group exists.
            if not str(exc).startswith("BUSYGROUP"):
                raise

    async def _ensure_tables_retrying(self) -> None:
        assert self._http is not None
        attempt = 0
        while not self._stop.is_set():
            try:
                await ensure_tables(self._http, self._config.table_prefix)
                return
            except JournalQueryError:
                raise
            except JournalError as exc:
                self._counters.last_error = exc.code
                log.warning("QuestDB not ready for table creation: %s", exc.message)
                await self._wait(self._backoff_s(attempt))
                attempt += 1

    # -- main loop ------------------------------------------------------------

    async def run(self) -> None:
        """Ship until ``stop()``. Returns at once when QuestDB is not configured.

        Redis and QuestDB outages are waited out with backoff. A table
        definition QuestDB refuses (:class:`JournalQueryError`) is raised: the
        deduplicating tables are what makes a retry safe, so nothing is shipped
        without them.
        """
        if not self._config.configured:
            log.info("QuestDB not configured: the outbox stays in Redis, capped")
            return
        loop = asyncio.get_running_loop()
        attempt = 0
        await self._ensure_tables_retrying()
        group_ready = False
        next_claim = 0.0
        while not self._stop.is_set():
            try:
                if not group_ready:
                    # Again after any Redis failure: the stream may have been lost with it.
                    await self.ensure_group()
                    await self._drain_own_pending()
                    group_ready = True
                batch: list[Entry] = []
                if loop.time() >= next_claim:
                    batch = await self._claim_stale()
                    if len(batch) < self._config.batch_size:
                        next_claim = loop.time() + self._config.claim_interval_ms / 1000
                if not batch:
                    batch = await self._read_new()
                if batch:
                    await self._ship(batch)
                attempt = 0
            except RedisError as exc:
                group_ready = False
                self._counters.last_error = type(exc).__name__
                log.warning("outbox unavailable: %r", exc)
                await self._wait(self._backoff_s(attempt))
                attempt += 1

    async def _drain_own_pending(self) -> None:
        while not self._stop.is_set():
            response = await self._redis.xreadgroup(
                self._config.group,
                self._config.consumer,
                {self._config.outbox_key: "0"},
                count=self._config.batch_size,
            )
            entries = self._entries(response)
            if not entries:
                return
            await self._ship(entries)

    async def _read_new(self) -> list[Entry]:
        response = await self._redis.xreadgroup(
            self._config.group,
            self._config.consumer,
            {self._config.outbox_key: ">"},
            count=self._config.batch_size,
            block=self._config.block_ms,
        )
        return self._entries(response)

    async def _claim_stale(self) -> list[Entry]:
        response = await self._redis.xautoclaim(
            self._config.outbox_key,
            self._config.group,
            self._config.consumer,
            min_idle_time=self._config.claim_min_idle_ms,
            start_id="0-0",
            count=self._config.batch_size,
        )
        entries: list[Entry] = list(response[1]) if len(response) > 1 else []
        deleted = list(response[2]) if len(response) > 2 else []
        self._counters.trimmed += len(deleted)
        if entries:
            self._counters.claimed += len(entries)
            log.info("claimed %d outbox entries from a stalled shipper", len(entries))
        return entries

    @staticmethod
    def _entries(response: Any) -> list[Entry]:
        if not response:
            return []
        if isinstance(response, dict):
            streams = list(response.values())
            return [entry for stream in streams for group in stream for entry in group]
        return [entry for _key, entries in response for entry in entries]

    # -- one batch --------------------------------------------------------------

    async def _ship(self, entries: list[Entry]) -> None:
        ids = [entry_id for entry_id, _ in entries]
        kept: list[tuple[Any, Any, Event]] = []
        dead: list[tuple[Any, Any, str]] = []
        for entry_id, fields in entries:
            if not fields:
                self._counters.trimmed += 1
                continue
            try:
                kept.append((entry_id, fields, decode_entry(fields)))
            except (ValueError, pydantic.ValidationError) as exc:
                dead.append((entry_id, fields, f"undecodable: {type(exc).__name__}"))
        rows: list[Row] = [event_to_row(event, self._config.table_prefix) for _, _, event in kept]
        refused = await self._write_until_done(rows, ids)
        if refused is None:
            return
        for index in refused:
            entry_id, fields, _ = kept[index]
            dead.append((entry_id, fields, "refused by the client encoder"))
        await self._ack(ids, dead)
        self._counters.shipped += len(rows) - len(refused)
        self._counters.batches += 1

    async def _write_until_done(self, rows: list[Row], ids: list[Any]) -> list[int] | None:
        """Flush until it succeeds; None if asked to stop first (entries stay pending)."""
        if not rows:
            return []
        assert self._writer is not None
        attempt = 0
        while True:
            try:
                return await asyncio.to_thread(self._writer.write, rows)
            except JournalWriteError as exc:
                self._counters.flush_failures += 1
                self._counters.last_error = str(exc.details.get("client_code", exc.code))
                delay = self._backoff_s(attempt)
                attempt += 1
                log.warning("QuestDB flush failed (%s); retry in %.3fs", exc.details, delay)
                await self._keep_claim(ids)
                if await self._wait(delay):
                    return None

    async def _keep_claim(self, ids: list[Any]) -> None:
        """Reset the idle time of entries being retried, so no other shipper claims them."""
        try:
            await self._redis.xclaim(
                self._config.outbox_key,
                self._config.group,
                self._config.consumer,
                min_idle_time=0,
                message_ids=ids,
                justid=True,
            )
        except RedisError as exc:
            log.debug("could not refresh the claim on pending entries: %r", exc)

    async def _ack(self, ids: list[Any], dead: list[tuple[Any, Any, str]]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for entry_id, fields, reason in dead:
                record: dict[FieldT, EncodableT] = {
                    _text(k): _text(v) for k, v in dict(fields).items()
                }
                record["entry_id"] = _text(entry_id)
                record["reason"] = reason
                pipe.xadd(
                    self._config.dead_letter_key,
                    record,
                    maxlen=self._config.outbox_maxlen,
                    approximate=True,
                )
            pipe.xack(self._config.outbox_key, self._config.group, *ids)
            if self._config.delete_shipped:
                pipe.xdel(self._config.outbox_key, *ids)
            await pipe.execute()
        if dead:
            self._counters.dead_lettered += len(dead)
            log.error("%d outbox entries moved to %s", len(dead), self._config.dead_letter_key)

    # -- helpers ----------------------------------------------------------------

    def _backoff_s(self, attempt: int) -> float:
        cfg = self._config
        return min(cfg.backoff_max_ms, cfg.backoff_initial_ms * (1 << min(attempt, 30))) / 1000

    async def _wait(self, seconds: float) -> bool:
        """Sleep unless asked to stop; True if stopping."""
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
