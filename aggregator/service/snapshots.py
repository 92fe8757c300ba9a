"""A worker's snapshots, built locally from its copy of the book cache.

:class:`CachedVenue` presents one cached venue through the
:class:`~aggregator.plugins.Connector` protocol (reads only: execution happens
in the market-data process), so the unchanged
:class:`~aggregator.market.SnapshotBuilder` assembles snapshots from the cache
exactly as it would from live connectors. :class:`SnapshotSource` rebuilds
only when the cache changed (or a time bound passed, so ages keep counting),
and numbers each snapshot it builds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence

from redis.exceptions import RedisError

from aggregator.errors import AggregatorError, ConfigError, StaleSourceError
from aggregator.market.builder import SnapshotBuilder
from aggregator.market.snapshot import ChainState, MarketSnapshot
from aggregator.models.assets import AssetAt
from aggregator.models.liquidity import Liquidity
from aggregator.models.market import Market
from aggregator.plugins.protocol import (
    Capabilities,
    ExecutionRequest,
    ExecutionResult,
    Health,
    LiquidityUpdate,
)
from aggregator.service.bookcache import BookCache
from aggregator.settlement.reservations import RedisReservationStore

__all__ = ["CachedInventory", "CachedVenue", "SnapshotSource"]

log = logging.getLogger(__name__)


class CachedVenue:
    """One venue of the book cache, read-only, as a connector."""

    def __init__(self, cache: BookCache, name: str) -> None:
        self.name = name
        self._cache = cache

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def markets(self) -> Sequence[Market]:
        record = self._cache.venues.get(self.name)
        return () if record is None else record.markets

    def liquidity(self, market_id: str) -> Liquidity | None:
        return self._cache.liquidity.get(market_id)

    async def updates(self) -> AsyncIterator[LiquidityUpdate]:
        return
        yield  # an empty async iterator: workers follow the cache, not the venue

    async def fetch_liquidity(self, market_id: str) -> Liquidity:
        liquidity = self._cache.liquidity.get(market_id)
        if liquidity is None:
            raise StaleSourceError(f"no cached liquidity for {market_id}", market_id=market_id)
        return liquidity

    def health(self) -> Health:
        return self._cache.health(self.name)

    def chain_state(self) -> ChainState:
        record = self._cache.venues.get(self.name)
        if record is None or record.chain is None:
            raise StaleSourceError(f"{self.name} has no chain state", venue=self.name)
        return record.chain

    def capabilities(self) -> Capabilities:
        return Capabilities(supported=frozenset())

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        raise ConfigError("legs execute in the market-data process, not in an API worker")


class CachedInventory:
    """The resolver's holdings from the cache, minus reservations refreshed from Redis."""

    def __init__(self, cache: BookCache, store: RedisReservationStore | None) -> None:
        self._cache = cache
        self._store = store
        self._reserved: dict[AssetAt, int] = {}
        self.version = 0

    def holdings(self) -> Mapping[AssetAt, int]:
        return self._cache.holdings

    def reservations(self) -> Mapping[AssetAt, int]:
        return self._reserved

    async def refresh(self) -> None:
        """Read what live reservations hold of each asset the resolver has."""
        if self._store is None:
            return
        assets = list(self._cache.holdings)
        held = await asyncio.gather(*(self._store.reserved(a) for a in assets))
        reserved = {a: h for a, h in zip(assets, held, strict=True) if h > 0}
        if reserved != self._reserved:
            self._reserved = reserved
            self.version += 1

    async def run(self, interval_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.refresh()
            except (RedisError, OSError, AggregatorError) as exc:
                log.warning("reservations not refreshed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)


class SnapshotSource:
    """The current snapshot of a worker (see the module docstring).

    Rebuilt when the cache changed, but at most every ``min_interval_s`` (updates
    from several chains and venues are taken together), and at least every
    ``interval_s`` so that ages and the publisher's silence are seen.
    """

    def __init__(
        self,
        cache: BookCache,
        inventory: CachedInventory,
        *,
        interval_s: float = 1.0,
        min_interval_s: float = 0.2,
        max_age_s: float | None = None,
        numeraire: str = "USDC",
    ) -> None:
        self.cache = cache
        self.inventory = inventory
        self._interval_ns = int(interval_s * 1e9)
        self._min_interval_ns = int(min_interval_s * 1e9)
        self._max_age_ns = None if max_age_s is None else int(max_age_s * 1e9)
        self._numeraire = numeraire
        self._builder: SnapshotBuilder | None = None
        self._venues: tuple[str, ...] = ()
        self._key: tuple[int, int] = (-1, -1)
        self._built_ns = 0
        self._snapshot: MarketSnapshot | None = None
        self.generation = 0

    def _builder_for(self, venues: tuple[str, ...]) -> SnapshotBuilder:
        if self._builder is None or venues != self._venues:
            self._venues = venues
            self._builder = SnapshotBuilder(
                [CachedVenue(self.cache, v) for v in venues],
                inventory=self.inventory,
                numeraire=self._numeraire,
                max_age_ns=self._max_age_ns,
            )
        return self._builder

    def current(self) -> MarketSnapshot:
        """The snapshot of the cache as it is now (rebuilt only when needed)."""
        now = time.time_ns()
        key = (self.cache.version, self.inventory.version)
        if self._snapshot is not None:
            age = now - self._built_ns
            if age < self._min_interval_ns or (key == self._key and age < self._interval_ns):
                return self._snapshot
        builder = self._builder_for(tuple(sorted(self.cache.venues)))
        self._snapshot = builder.build()
        self._key = key
        self._built_ns = now
        self.generation += 1
        return self._snapshot
