"""Everything an API worker serves from, built once per worker process.

A worker holds no market state of its own beyond its copy of the book cache:
quotes, swaps, reservations and rate limits all live in Redis, so any number
of workers can serve the same port and any worker can answer for a quote or a
swap another one made.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from eth_utils.address import is_address, is_checksum_address
from redis.asyncio import Redis
from redis.exceptions import RedisError

from aggregator.api.auth import ApiKeyAuth
from aggregator.api.metrics import Metrics
from aggregator.api.ratelimit import RateLimiter
from aggregator.api.routing import parse_body
from aggregator.api.schemas import QuoteRequestBody, SymbolAsset, TokenAsset, parse_amount
from aggregator.api.views import QuoteViewCache
from aggregator.errors import InvalidAddressError, NoLiquidityError, NotRoutableError
from aggregator.journal.metrics import Analytics
from aggregator.journal.outbox import Outbox
from aggregator.market.snapshot import MarketSnapshot
from aggregator.models.assets import AssetAt, Location
from aggregator.models.quote import ExclusionReason, QuoteRequest
from aggregator.service.batcher import RedisBatcher
from aggregator.service.bookcache import BookCache
from aggregator.service.compose import Foundation
from aggregator.service.marketdata import cache_prefix
from aggregator.service.quoting import QuoteEngine
from aggregator.service.snapshots import CachedInventory, SnapshotSource
from aggregator.settings import Settings
from aggregator.settlement.quotes import QuoteStore
from aggregator.settlement.reservations import RedisReservationStore
from aggregator.settlement.service import SettlementService

__all__ = ["ApiContext", "checksummed"]

_REQUESTS_KEPT = 1024
"""Distinct quote request bodies a worker keeps parsed."""
_REQUEST_BYTES_KEPT = 2048
"""Only bodies up to this size are kept."""


def checksummed(value: str, field: str) -> str:
    """``value`` if it is an EIP-55 checksummed address; :class:`InvalidAddressError` else."""
    if not is_address(value):
        raise InvalidAddressError(f"{field} is not an address", field=field, address=value[:64])
    if not is_checksum_address(value):
        raise InvalidAddressError(
            f"{field} is not in EIP-55 checksum form", field=field, address=value
        )
    return value


@dataclass
class ApiContext:
    """The parts of one worker (see the module docstring)."""

    foundation: Foundation
    redis: Redis
    batcher: RedisBatcher
    cache: BookCache
    inventory: CachedInventory
    snapshots: SnapshotSource
    engine: QuoteEngine
    quotes: QuoteStore
    reservations: RedisReservationStore
    settlement: SettlementService
    analytics: Analytics
    limiter: RateLimiter
    auth: ApiKeyAuth
    metrics: Metrics = field(default_factory=Metrics)
    views: QuoteViewCache = field(default_factory=QuoteViewCache)
    _requests: dict[bytes, QuoteRequest] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.foundation.settings

    @classmethod
    def create(cls, foundation: Foundation, redis: Redis | None = None) -> ApiContext:
        settings = foundation.settings
        redis = redis or Redis.from_url(settings.redis.url.get_secret_value())
        batcher = RedisBatcher(redis)
        cache = BookCache(redis, cache_prefix(foundation), settings.market_data.stale_after_s)
        reservations = RedisReservationStore(redis)
        inventory = CachedInventory(cache, reservations)
        market = settings.market_data
        snapshots = SnapshotSource(
            cache,
            inventory,
            interval_s=market.snapshot_interval_s,
            min_interval_s=market.snapshot_min_interval_s,
            max_age_s=market.max_age_s,
            numeraire=market.numeraire,
        )
        quotes = QuoteStore(redis)
        outbox = Outbox(settings.journal)
        engine = QuoteEngine(
            foundation.router(),
            snapshots,
            quotes,
            reservations,
            batcher,
            outbox=outbox,
            memo_size=settings.api.route_cache_size,
            warm_s=market.snapshot_warm_s,
        )
        settlement = SettlementService(
            foundation.settlement_config(),
            redis,
            foundation.resolver_address,
            outbox=outbox,
            quotes=quotes,
        )
        return cls(
            foundation=foundation,
            redis=redis,
            batcher=batcher,
            cache=cache,
            inventory=inventory,
            snapshots=snapshots,
            engine=engine,
            quotes=quotes,
            reservations=reservations,
            settlement=settlement,
            analytics=Analytics(settings.journal),
            limiter=RateLimiter(batcher, f"{settings.redis.key_prefix}:rl"),
            auth=ApiKeyAuth(settings.api.key_hashes()),
        )

    async def start(self) -> None:
        await self.cache.start()
        with contextlib.suppress(RedisError):
            await self.inventory.refresh()
        interval = max(0.1, self.settings.market_data.snapshot_min_interval_s)
        self._tasks.append(asyncio.create_task(self.inventory.run(interval, self._stop)))

    async def close(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.engine.close()
        await self.cache.stop()
        await self.batcher.close()
        await self.settlement.close()
        await self.analytics.aclose()
        await self.redis.aclose()

    # -- requests -------------------------------------------------------------------

    def asset_at(self, ref: SymbolAsset | TokenAsset, side: str) -> AssetAt:
        """The asset at a location a request names; unknown_asset or invalid_address."""
        registry = self.foundation.registry
        if isinstance(ref, TokenAsset):
            checksummed(ref.token, f"{side}.token")
            token = registry.by_address(ref.chain_id, ref.token)
            return AssetAt(asset=token.asset, location=Location.chain(token.chain, ref.chain_id))
        return registry.at(ref.asset, registry.chain_location(ref.location))

    def quote_request(self, body: QuoteRequestBody) -> QuoteRequest:
        return QuoteRequest.model_construct(
            sell=self.asset_at(body.sell, "sell"),
            buy=self.asset_at(body.buy, "buy"),
            mode=body.mode,
            amount=parse_amount(body.amount),
            slippage_bps=body.slippage_bps,
            venues_allow=None if body.venues_allow is None else frozenset(body.venues_allow),
            venues_deny=frozenset(body.venues_deny),
            firm=body.firm,
        )

    def quote_request_from(self, raw: bytes) -> QuoteRequest:
        """The quote request a JSON body asks for; typed 400/404/422 errors otherwise.

        Clients polling a few pairs send the same bodies again and again, and
        what a body asks for depends only on its bytes and the asset registry,
        so small bodies are parsed once (the last :data:`_REQUESTS_KEPT`).
        """
        found = self._requests.get(raw)
        if found is not None:
            return found
        request = self.quote_request(parse_body(raw, QuoteRequestBody))
        if len(raw) <= _REQUEST_BYTES_KEPT:
            requests = self._requests
            requests[raw] = request
            if len(requests) > _REQUESTS_KEPT:
                del requests[next(iter(requests))]
        return request

    def no_liquidity(self, exc: NoLiquidityError, request: QuoteRequest) -> NoLiquidityError:
        """503 when sources are missing or unhealthy; 422 when they are fine and the order
        itself cannot be routed (too small for its gas, venues denied, no path)."""
        if type(exc) is not NoLiquidityError:
            return exc
        snapshot: MarketSnapshot = self.snapshots.current()
        unhealthy = any(
            e.market_id is None and e.reason in (ExclusionReason.STALE, ExclusionReason.QUARANTINED)
            for e in snapshot.excluded
        )
        chains = snapshot.chains
        if (
            not self.cache.publisher_alive()
            or not snapshot.markets
            or unhealthy
            or request.sell.location.key not in chains
            or request.buy.location.key not in chains
        ):
            return exc
        return NotRoutableError(exc.message, **exc.details)
