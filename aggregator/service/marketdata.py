"""The market-data process: connectors in, book cache out; settlement and shipping beside.

It starts every connector, forwards each liquidity update to the book cache,
publishes each venue's markets, health and chain state with a heartbeat,
reads the resolver's holdings (chains, and a venue account where a connector
reports balances) into the cache and the reservation store's capacity, and
runs the settlement coordinator (with the connectors as its trade-leg
executors) and, when QuestDB is configured, the outbox shipper.

The resolver signs both the settlement's transactions and the trades its
connectors execute, so the settlement's Redis-backed nonce manager is the one
nonce authority of the process: the connectors get it in their context and
the coordinator is built on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from aggregator.chain.nonces import NONCE_SOURCE
from aggregator.errors import AggregatorError
from aggregator.journal.outbox import Outbox
from aggregator.journal.sampler import MarketSampler
from aggregator.journal.shipper import Shipper
from aggregator.market.builder import ChainStateSource
from aggregator.models.assets import AssetAt
from aggregator.plugins.protocol import Connector, HealthStatus
from aggregator.service.bookcache import BookCachePublisher, VenueRecord
from aggregator.service.compose import Foundation, read_chain_holdings
from aggregator.settlement.chain import new_session
from aggregator.settlement.coordinator import Coordinator
from aggregator.settlement.keys import Keys
from aggregator.settlement.legs import LegExecutor
from aggregator.settlement.nonces import NonceManager
from aggregator.settlement.reservations import RedisReservationStore

__all__ = ["MarketDataService", "cache_prefix"]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def cache_prefix(foundation: Foundation) -> str:
    return f"{foundation.settings.redis.key_prefix}:md"


class MarketDataService:
    """See the module docstring: ``await start()``, then ``await stop()``."""

    def __init__(
        self,
        foundation: Foundation,
        redis: Redis,
        *,
        coordinator: bool = True,
        shipper: bool = True,
        progress: Progress | None = None,
    ) -> None:
        self.foundation = foundation
        self.settings = foundation.settings
        self.redis = redis
        self.publisher = BookCachePublisher(redis, cache_prefix(foundation))
        self.reservations = RedisReservationStore(redis)
        self.settlement_config = foundation.settlement_config()
        self.nonces = NonceManager(redis, Keys(self.settlement_config.key_prefix))
        self.outbox = Outbox(self.settings.journal)
        self.connectors: list[Connector] = []
        self.coordinator: Coordinator | None = None
        self.shipper: Shipper | None = None
        self._want_coordinator = coordinator
        self._want_shipper = shipper
        self._progress = progress or (lambda _message: None)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._session = new_session()
        self.holdings: dict[AssetAt, int] = {}

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self.connectors = self.foundation.build_connectors({NONCE_SOURCE: self.nonces})
        await self.publisher.clear()
        self._progress(f"starting {len(self.connectors)} connectors")
        results = await asyncio.gather(
            *(c.start() for c in self.connectors), return_exceptions=True
        )
        for connector, result in zip(self.connectors, results, strict=True):
            if isinstance(result, BaseException):
                log.error("connector %s failed to start: %s", connector.name, result)
        await self._wait_healthy()
        for connector in self.connectors:
            for market in connector.markets():
                liquidity = connector.liquidity(market.id)
                if liquidity is not None:
                    self.publisher.offer(liquidity)
        await self.publisher.flush()
        await self._publish_venues()
        await self.refresh_inventory()
        self._spawn(self.publisher.run(self._stop), "book-cache-publisher")
        for connector in self.connectors:
            self._spawn(self._forward(connector), f"forward-{connector.name}")
        self._spawn(self._heartbeats(), "heartbeats")
        self._spawn(self._inventory_loop(), "inventory")
        if self._want_coordinator:
            await self._start_coordinator()
        sampler = MarketSampler(self.connectors, self.outbox)
        self._spawn(sampler.run(self.redis, self._stop), "market-sampler")
        if self._want_shipper and self.settings.journal.configured:
            self.shipper = Shipper(self.redis, self.settings.journal)
            self._spawn(self.shipper.run(), "shipper")
        self._progress("market data ready")

    async def stop(self) -> None:
        self._stop.set()
        if self.shipper is not None:
            self.shipper.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.coordinator is not None:
            await self.coordinator.close()
        if self.shipper is not None:
            await self.shipper.aclose()
        await asyncio.gather(*(c.stop() for c in self.connectors), return_exceptions=True)
        await self._session.close()

    def _spawn(self, coro: object, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))  # type: ignore[arg-type]

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.settings.market_data.start_timeout_s
        last = ""
        while time.monotonic() < deadline:
            waiting = [
                c.name for c in self.connectors if c.health().status is not HealthStatus.HEALTHY
            ]
            if not waiting:
                return
            message = "waiting for first data from " + ", ".join(waiting)
            if message != last:
                self._progress(message)
                last = message
            await asyncio.sleep(0.05)
        log.warning("starting without: %s", ", ".join(c.name for c in self.connectors))

    async def _start_coordinator(self) -> None:
        legs = None
        if self.settings.settlement.execute_legs:
            legs = LegExecutor({c.name: c for c in self.connectors})
        self.coordinator = Coordinator(
            self.settlement_config,
            self.redis,
            self.foundation.manifest.accounts.resolver.local_account(),
            outbox=self.outbox,
            legs=legs,
            release_reservation=self.reservations.release,
            nonces=self.nonces,
        )
        self._progress("starting the settlement coordinator")
        await self.coordinator.start()
        self._spawn(self.coordinator.run(self._stop), "coordinator")

    # -- loops ----------------------------------------------------------------------

    async def _forward(self, connector: Connector) -> None:
        while not self._stop.is_set():
            try:
                async for update in connector.updates():
                    self.publisher.offer(update.liquidity)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a plugin's own failure must not end the process
                log.warning("updates of %s failed: %s", connector.name, exc)
            await asyncio.sleep(0.5)

    def _record(self, connector: Connector) -> VenueRecord:
        chain = None
        if isinstance(connector, ChainStateSource):
            with contextlib.suppress(AggregatorError):
                chain = connector.chain_state()
        return VenueRecord(connector.name, tuple(connector.markets()), connector.health(), chain)

    async def _publish_venues(self) -> None:
        for connector in self.connectors:
            await self.publisher.publish_venue(self._record(connector))

    async def _heartbeats(self) -> None:
        interval = self.settings.market_data.heartbeat_interval_s
        while not self._stop.is_set():
            try:
                await self._publish_venues()
                await self.publisher.heartbeat()
            except RedisError as exc:
                log.warning("heartbeat not published: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)

    async def _venue_holdings(self, connector: Connector) -> dict[AssetAt, int]:
        balances = getattr(connector, "balances", None)
        markets = connector.markets()
        if balances is None or not markets or markets[0].location.is_chain:
            return {}
        location = markets[0].location
        try:
            found = await balances()
        except AggregatorError as exc:
            log.debug("no balances from %s: %s", connector.name, exc)
            return {}
        out: dict[AssetAt, int] = {}
        for asset, value in found.items():
            if any(a.symbol == asset for a in self.foundation.registry.assets):
                out[AssetAt(asset=asset, location=location)] = int(getattr(value, "free", value))
        return out

    async def refresh_inventory(self) -> None:
        """Read the resolver's holdings into the cache and the reservation capacity."""
        resolver = self.foundation.resolver_address
        holdings = await read_chain_holdings(self.foundation, resolver, self._session)
        for connector in self.connectors:
            holdings.update(await self._venue_holdings(connector))
        await self.reservations.set_inventory(holdings)
        if holdings != self.holdings:
            self.holdings = holdings
            await self.publisher.publish_inventory(holdings)

    async def _inventory_loop(self) -> None:
        interval = self.settings.market_data.inventory_refresh_s
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)
            try:
                await self.refresh_inventory()
            except (AggregatorError, RedisError, OSError) as exc:
                log.warning("inventory not refreshed: %s", exc)
