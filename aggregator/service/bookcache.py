"""The book cache: the market-data process publishes, every API worker keeps a local copy.

Layout in Redis under ``prefix`` (``md`` by default):

* ``<prefix>:liq``      HASH market id -> compact liquidity row (:mod:`.codec`)
* ``<prefix>:venues``   HASH venue -> JSON {markets, health, chain}
* ``<prefix>:inventory`` JSON list of [asset, location, amount string] (resolver holdings)
* ``<prefix>:hb``       the publisher's last heartbeat, integer ns
* ``<prefix>:events``   pub/sub channel: {"t": "liq"|"venue"|"inv"|"hb", "d": ...}

The publisher coalesces liquidity updates and writes each batch with one
pipeline (HSET and one PUBLISH). A worker subscribes first, then loads the
hashes, so nothing published in between is lost; per market it keeps the
newest ``ts_recv``. Every applied change bumps :attr:`BookCache.version`, which
is what tells a worker to rebuild its snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from aggregator.market.snapshot import ChainState
from aggregator.models.assets import AssetAt, Location
from aggregator.models.liquidity import Liquidity
from aggregator.models.market import Market
from aggregator.plugins.protocol import Health, HealthStatus
from aggregator.service.codec import decode_liquidity, liquidity_row

__all__ = ["BookCache", "BookCachePublisher", "VenueRecord"]

log = logging.getLogger(__name__)


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class VenueRecord:
    """One venue as the cache holds it: markets, last published health and chain state."""

    __slots__ = ("chain", "health", "markets", "name")

    def __init__(
        self,
        name: str,
        markets: tuple[Market, ...],
        health: Health,
        chain: ChainState | None,
    ) -> None:
        self.name = name
        self.markets = markets
        self.health = health
        self.chain = chain

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "markets": [m.model_dump(mode="json") for m in self.markets],
            "health": self.health.model_dump(mode="json"),
            "chain": None if self.chain is None else self.chain.model_dump(mode="json"),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VenueRecord:
        chain = data.get("chain")
        return cls(
            name=str(data["name"]),
            markets=tuple(Market.model_validate(m) for m in data["markets"]),
            health=Health.model_validate(data["health"]),
            chain=None if chain is None else ChainState.model_validate(chain),
        )


def _routing_view(record: VenueRecord) -> tuple[Any, ...]:
    """What a snapshot reads of a venue record (not its ages, which change every beat)."""
    health, chain = record.health, record.chain
    return (
        record.markets,
        health.status,
        tuple(sorted(health.quarantined.items())),
        None
        if chain is None
        else (chain.head, chain.head_time, chain.base_fee_wei, chain.priority_fee_wei),
    )


def _inventory_json(holdings: Mapping[AssetAt, int]) -> list[Any]:
    return [
        [a.asset, a.location.model_dump(mode="json"), str(amount)]
        for a, amount in sorted(holdings.items(), key=lambda item: str(item[0]))
    ]


def _inventory_from_json(rows: list[Any]) -> dict[AssetAt, int]:
    return {
        AssetAt(asset=str(asset), location=Location.model_validate(loc)): int(amount)
        for asset, loc, amount in rows
    }


class BookCachePublisher:
    """The market-data side: writes the cache and announces every change."""

    def __init__(self, redis: Redis, prefix: str = "md", flush_interval_s: float = 0.002) -> None:
        self.redis = redis
        self.prefix = prefix
        self.channel = f"{prefix}:events"
        self._flush_interval_s = flush_interval_s
        self._dirty: dict[str, Liquidity] = {}
        self._wake = asyncio.Event()
        self.published = 0

    def offer(self, liquidity: Liquidity) -> None:
        """Queue a market's newest liquidity (only the latest per market is written)."""
        self._dirty[liquidity.market_id] = liquidity
        self._wake.set()

    async def flush(self) -> int:
        """Write and announce what is queued; returns the number of markets written."""
        if not self._dirty:
            return 0
        batch, self._dirty = self._dirty, {}
        rows = [liquidity_row(liq) for liq in batch.values()]
        mapping: dict[Any, Any] = {row[1]: json.dumps(row, separators=(",", ":")) for row in rows}
        message = json.dumps({"t": "liq", "d": rows}, separators=(",", ":"))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(f"{self.prefix}:liq", mapping=mapping)
            pipe.publish(self.channel, message)
            await pipe.execute()
        self.published += len(rows)
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush whenever something is queued, until ``stop``; Redis failures are retried."""
        while not stop.is_set():
            self._wake.clear()
            if not self._dirty:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                continue
            try:
                await self.flush()
            except RedisError as exc:
                log.warning("book cache flush failed: %s", exc)
                await asyncio.sleep(0.2)
            await asyncio.sleep(self._flush_interval_s)

    async def publish_venue(self, record: VenueRecord) -> None:
        data = record.to_json()
        text = json.dumps(data, separators=(",", ":"))
        message = json.dumps({"t": "venue", "d": data}, separators=(",", ":"))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(f"{self.prefix}:venues", record.name, text)
            pipe.publish(self.channel, message)
            await pipe.execute()

    async def publish_inventory(self, holdings: Mapping[AssetAt, int]) -> None:
        rows = _inventory_json(holdings)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"{self.prefix}:inventory", json.dumps(rows))
            pipe.publish(self.channel, json.dumps({"t": "inv", "d": rows}))
            await pipe.execute()

    async def heartbeat(self) -> None:
        stamp = time.time_ns()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"{self.prefix}:hb", stamp)
            pipe.publish(self.channel, json.dumps({"t": "hb", "d": stamp}))
            await pipe.execute()

    async def clear(self) -> None:
        """Forget every market, venue and holding (a fresh market-data process)."""
        await self.redis.delete(
            f"{self.prefix}:liq", f"{self.prefix}:venues", f"{self.prefix}:inventory"
        )


class BookCache:
    """A worker's local copy of the cache, kept current from the channel."""

    def __init__(self, redis: Redis, prefix: str = "md", stale_after_s: float = 3.0) -> None:
        self.redis = redis
        self.prefix = prefix
        self.channel = f"{prefix}:events"
        self.stale_after_ns = int(stale_after_s * 1e9)
        self.liquidity: dict[str, Liquidity] = {}
        self.venues: dict[str, VenueRecord] = {}
        self.holdings: dict[AssetAt, int] = {}
        self.heartbeat_ns = 0
        self.version = 0
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self.channel)
        await self.reload()
        self._task = asyncio.create_task(self._listen(), name="book-cache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError):
                await self._task
            self._task = None
        if self._pubsub is not None:
            with contextlib.suppress(RedisError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            self._pubsub = None

    async def reload(self) -> None:
        """Read the whole cache from Redis (at start, and after losing the channel)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(f"{self.prefix}:liq")
            pipe.hgetall(f"{self.prefix}:venues")
            pipe.get(f"{self.prefix}:inventory")
            pipe.get(f"{self.prefix}:hb")
            liq, venues, inventory, heartbeat = await pipe.execute()
        for raw in liq.values():
            self._apply_row(json.loads(raw))
        for raw in venues.values():
            self._apply_venue(json.loads(raw))
        if inventory is not None:
            self.holdings = _inventory_from_json(json.loads(inventory))
        if heartbeat is not None:
            self.heartbeat_ns = max(self.heartbeat_ns, int(heartbeat))
        self._bump()

    async def _listen(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message.get("type") == "message":
                        self.apply(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("book cache channel lost (%s); resubscribing", exc)
                await asyncio.sleep(0.2)
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.subscribe(self.channel)
                    await self.reload()

    # -- applying -------------------------------------------------------------------

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()

    def _apply_row(self, row: list[Any]) -> bool:
        liquidity = decode_liquidity(row)
        current = self.liquidity.get(liquidity.market_id)
        if current is not None and current.ts_recv > liquidity.ts_recv:
            return False
        self.liquidity[liquidity.market_id] = liquidity
        return True

    def _apply_venue(self, data: Mapping[str, Any]) -> bool:
        """Store the record; True when what a snapshot reads of it changed."""
        record = VenueRecord.from_json(data)
        previous = self.venues.get(record.name)
        self.venues[record.name] = record
        return previous is None or _routing_view(previous) != _routing_view(record)

    def apply(self, raw: str | bytes) -> None:
        """Apply one channel message; a malformed one is logged and dropped."""
        try:
            message = json.loads(raw)
            kind, data = message["t"], message["d"]
            if kind == "liq":
                changed = False
                for row in data:
                    changed = self._apply_row(row) or changed
                if not changed:
                    return
            elif kind == "venue":
                if not self._apply_venue(data):
                    return
            elif kind == "inv":
                self.holdings = _inventory_from_json(data)
            elif kind == "hb":
                self.heartbeat_ns = max(self.heartbeat_ns, int(data))
                return
            else:
                return
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("malformed book cache message dropped: %s", exc)
            return
        self._bump()

    async def wait_changed(self, timeout_s: float) -> bool:
        """Wait for the next change (True) or the timeout (False)."""
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    # -- reading --------------------------------------------------------------------

    def silent_for_ns(self, now_ns: int | None = None) -> int:
        """Time since the publisher's last heartbeat."""
        now = time.time_ns() if now_ns is None else now_ns
        return now - self.heartbeat_ns if self.heartbeat_ns else now

    def publisher_alive(self, now_ns: int | None = None) -> bool:
        return self.silent_for_ns(now_ns) <= self.stale_after_ns

    def health(self, venue: str, now_ns: int | None = None) -> Health:
        """The venue's published health, STALE while the publisher is silent."""
        record = self.venues.get(venue)
        if record is None:
            return Health(connector=venue, status=HealthStatus.STARTING, reason="not published")
        if not self.publisher_alive(now_ns):
            silent = self.silent_for_ns(now_ns) / 1e9
            return record.health.model_copy(
                update={
                    "status": HealthStatus.STALE,
                    "reason": f"market data silent for {silent:.1f} s",
                }
            )
        return record.health

    def markets(self) -> dict[str, Market]:
        return {m.id: m for record in self.venues.values() for m in record.markets}
