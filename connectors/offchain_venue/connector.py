"""The off-chain venue connector: REST client + depth stream + one synchronizer per market.

Composition, no inheritance: :class:`VenueRestClient` (httpx) serves snapshots, orders
and balances; :class:`DepthStream` (aiohttp) carries every market's depth diffs on one
combined stream; a :class:`BookSynchronizer` per market keeps its book in step (see
:mod:`connectors.offchain_venue.sync` for the rules). On a gap, an overlap, a crossed
book or a malformed diff the market is quarantined and resynced from a fresh snapshot;
on a disconnect every market is, once the stream is back. Quarantined markets publish
no liquidity and are listed with their reason in :meth:`OffchainVenueConnector.health`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence

from pydantic import ValidationError as PydanticValidationError

from aggregator.errors import (
    AggregatorError,
    ConfigError,
    VenueError,
    VenueRateLimitError,
    VenueRejectedError,
    VenueUnavailableError,
)
from aggregator.models import AssetRegistry, Liquidity, Market, OrderBook, now_ns
from aggregator.plugins.protocol import (
    Capabilities,
    Capability,
    ExecutionRequest,
    ExecutionResult,
    Health,
    HealthStatus,
    LiquidityUpdate,
)
from connectors.offchain_venue.config import OffchainVenueConfig
from connectors.offchain_venue.convert import (
    Balance,
    MarketSpec,
    book_from_snapshot,
    market_specs,
)
from connectors.offchain_venue.fanout import UpdateFanout
from connectors.offchain_venue.rest import VenueRestClient
from connectors.offchain_venue.schemas import CombinedDepthMessage
from connectors.offchain_venue.stream import DepthStream
from connectors.offchain_venue.sync import (
    BookSynchronizer,
    Diff,
    QuarantineReason,
    SyncMetrics,
    SyncOutcome,
)
from connectors.offchain_venue.trading import VenueTrader

__all__ = ["OffchainVenueConnector"]

log = logging.getLogger(__name__)

_SNAPSHOT_RETRY_S = 0.01
_SNAPSHOT_BACKOFF_MAX_S = 1.0


class OffchainVenueConnector:
    """One order-book venue, normalized; satisfies :class:`~aggregator.plugins.Connector`."""

    def __init__(
        self,
        name: str,
        config: OffchainVenueConfig,
        registry: AssetRegistry,
        *,
        rest: VenueRestClient | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._registry = registry
        self._rest = rest or VenueRestClient(config)
        decimals = {asset.symbol: asset.decimals for asset in registry.assets}
        self._trader = VenueTrader(name, self._rest, decimals, can_trade=config.can_trade)
        self._syncs: dict[str, BookSynchronizer] = {}
        self._by_symbol: dict[str, BookSynchronizer] = {}
        self._by_stream: dict[str, BookSynchronizer] = {}
        self._stream: DepthStream | None = None
        self._resyncs: dict[str, asyncio.Task[None]] = {}
        self._init_task: asyncio.Task[None] | None = None
        self._fanout = UpdateFanout(self._view)
        self._live_changed = asyncio.Event()
        self._started = False
        self._stopped = False
        self._last_data_ns: int | None = None
        self._last_sequence: int | None = None
        self._unreadable = 0
        self.skipped: dict[str, str] = {}
        """Venue symbols left out at start, with the reason."""
        self.last_error: str | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Load the venue's markets and open the stream; books sync in the background.

        A venue that cannot be reached yet is retried in the background (health STALE
        until it answers); a configuration the venue contradicts raises ConfigError.
        """
        if self._started:
            return
        self._started = True
        try:
            await self._initialize()
        except (VenueUnavailableError, VenueRateLimitError) as exc:
            self.last_error = f"venue unreachable: {exc.message}"
            self._init_task = asyncio.create_task(self._initialize_later(exc))

    async def _initialize_later(self, error: VenueError) -> None:
        delay = self.config.reconnect_initial_s
        while not self._stopped:
            wait = error.retry_after if isinstance(error, VenueRateLimitError) else delay
            await asyncio.sleep(wait)
            try:
                await self._initialize()
                return
            except (VenueUnavailableError, VenueRateLimitError) as exc:
                self.last_error, error = f"venue unreachable: {exc.message}", exc
                delay = min(delay * 2, self.config.reconnect_max_s)
            except AggregatorError as exc:
                self.last_error = exc.message
                return

    async def _initialize(self) -> None:
        info = await self._rest.exchange_info()
        if self.config.can_trade:
            await self._rest.sync_time()
        specs, self.skipped = market_specs(
            info,
            self._registry,
            self.name,
            symbols=self.config.symbols,
            fee_bps=self.config.taker_fee_bps,
        )
        missing = set(self.config.symbols or ()) - {spec.symbol for spec in specs}
        if missing or not specs:
            reasons = {s: self.skipped.get(s, "not listed by the venue") for s in sorted(missing)}
            raise ConfigError(f"{self.name}: no usable venue symbols {reasons or ''}".strip())
        for spec in specs:
            sync = BookSynchronizer(
                spec,
                depth=self.config.depth_limit,
                history=self.config.history,
                max_buffer=self.config.max_buffer,
            )
            self._syncs[spec.market.id] = sync
            self._by_symbol[spec.symbol] = sync
            self._by_stream[self.config.stream_name(spec.symbol)] = sync
        self._stream = DepthStream(
            self.config.stream_url([spec.symbol for spec in specs]),
            on_message=self._on_message,
            on_open=self._on_open,
            on_close=self._on_close,
            initial_backoff=self.config.reconnect_initial_s,
            max_backoff=self.config.reconnect_max_s,
        )
        self.last_error = None
        self._stream.start()
        self._live_changed.set()

    async def stop(self) -> None:
        self._stopped = True
        if self._init_task is not None:
            self._init_task.cancel()
            await asyncio.gather(self._init_task, return_exceptions=True)
        for task in self._resyncs.values():
            task.cancel()
        await asyncio.gather(*self._resyncs.values(), return_exceptions=True)
        self._resyncs.clear()
        if self._stream is not None:
            await self._stream.close()
        await self._rest.aclose()
        self._fanout.close()

    async def wait_ready(self) -> None:
        """Wait until every market is LIVE (bound it with ``asyncio.timeout``)."""
        while not all(sync.live for sync in self._syncs.values()) or not self._syncs:
            self._live_changed.clear()
            await self._live_changed.wait()

    # -- market data -----------------------------------------------------------------

    def markets(self) -> Sequence[Market]:
        return [sync.spec.market for sync in self._syncs.values()]

    def liquidity(self, market_id: str) -> Liquidity | None:
        sync = self._syncs.get(market_id)
        return sync.view() if sync is not None else None

    def book_at(self, market_id: str, sequence: int) -> OrderBook | None:
        """The LIVE book as it was right after update id ``sequence`` (needs ``history``)."""
        sync = self._syncs.get(market_id)
        if sync is None or not sync.live:
            return None
        return sync.book.at(sequence)

    def updates(self) -> AsyncIterator[LiquidityUpdate]:
        """Book updates, conflated: a slow reader gets each market's latest book."""
        return self._fanout.updates()

    async def fetch_liquidity(self, market_id: str) -> Liquidity:
        spec = self._spec(market_id)
        snapshot = await self._rest.depth(spec.symbol, self.config.depth_limit)
        try:
            return book_from_snapshot(snapshot, spec, now_ns())
        except ValueError as exc:
            raise VenueError(f"{market_id}: malformed depth snapshot: {exc}") from exc

    def health(self) -> Health:
        quarantined = {
            market_id: sync.reason or "syncing"
            for market_id, sync in self._syncs.items()
            if not sync.live
        }
        now = now_ns()
        age = None if self._last_data_ns is None else now - self._last_data_ns
        status, reason = HealthStatus.HEALTHY, None
        if self._stopped:
            status, reason = HealthStatus.STOPPED, "stopped"
        elif self._started and self._stream is None and self.last_error is not None:
            status, reason = HealthStatus.STALE, self.last_error
        elif not self._started or not any(s.synced_once for s in self._syncs.values()):
            status, reason = HealthStatus.STARTING, self.last_error or "waiting for books"
        elif age is None or age > self.config.staleness_s * 1e9:
            silent = "ever" if age is None else f"{age / 1e9:.1f} s"
            status, reason = HealthStatus.STALE, f"no data from the venue for {silent}"
        elif len(quarantined) == len(self._syncs):
            status, reason = HealthStatus.QUARANTINED, "every market is resyncing"
        return Health(
            connector=self.name,
            status=status,
            reason=reason,
            last_update_ns=self._last_data_ns,
            last_sequence=self._last_sequence,
            age_ns=age,
            quarantined=quarantined,
        )

    def capabilities(self) -> Capabilities:
        supported = {Capability.BOOKS, Capability.STREAM, Capability.STALENESS}
        unsupported: dict[Capability, str] = {
            Capability.AMM: "an order-book venue has no AMM curves",
        }
        if self.config.can_trade:
            supported |= {Capability.EXECUTE, Capability.BALANCES}
        else:
            for capability in (Capability.EXECUTE, Capability.BALANCES):
                unsupported[capability] = "no API key and secret configured"
        return Capabilities(supported=frozenset(supported), unsupported=unsupported)

    def metrics(self) -> dict[str, SyncMetrics]:
        """Per market: sync state, quarantines and resync durations."""
        return {market_id: sync.metrics() for market_id, sync in self._syncs.items()}

    # -- fault injection -------------------------------------------------------------

    def drop_next_messages(self, count: int) -> None:
        """Test hook: discard the next ``count`` stream frames as if they were lost."""
        if self._stream is not None:
            self._stream.drop_next(count)

    async def drop_connection(self) -> None:
        """Test hook: close the stream's connection as if the network failed."""
        if self._stream is not None:
            await self._stream.disconnect()

    # -- trading ---------------------------------------------------------------------

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        """A LIMIT IOC order for the leg; VenueNotFilledError if a required fill got nothing."""
        spec = self._spec(request.market_id)
        return await self._trader.execute(request, spec, self._syncs[request.market_id].view())

    async def balances(self) -> Mapping[str, Balance]:
        """The venue account's free and locked balances, base units, by asset."""
        return await self._trader.balances()

    # -- internals -------------------------------------------------------------------

    def _spec(self, market_id: str) -> MarketSpec:
        sync = self._syncs.get(market_id)
        if sync is None:
            raise VenueRejectedError(f"{self.name}: unknown market {market_id!r}")
        return sync.spec

    def _on_open(self) -> None:
        for sync in self._syncs.values():
            self._schedule_resync(sync)

    def _on_close(self, reason: str) -> None:
        self.last_error = reason
        for task in self._resyncs.values():
            task.cancel()
        self._resyncs.clear()
        for sync in self._syncs.values():
            sync.quarantine(QuarantineReason.DISCONNECTED, reason)
        self._live_changed.set()

    def _on_message(self, text: str, ts_recv: int) -> None:
        self._last_data_ns = ts_recv
        try:
            data = CombinedDepthMessage.model_validate_json(text).data
        except PydanticValidationError as exc:
            self._unreadable_frame(text, exc)
            return
        sync = self._by_symbol.get(data.s)
        if sync is None:
            return
        spec = sync.spec
        try:
            diff = Diff(
                data.U,
                data.u,
                spec.levels(data.b),
                spec.levels(data.a),
                data.E * 1_000_000,
                ts_recv,
            )
        except ValueError as exc:
            self._quarantine(sync, QuarantineReason.MALFORMED, f"diff U={data.U}: {exc}")
            return
        outcome = sync.on_diff(diff)
        if outcome is SyncOutcome.APPLIED:
            self._publish(sync)
        elif outcome is SyncOutcome.QUARANTINED:
            self._live_changed.set()
            self._schedule_resync(sync)

    def _unreadable_frame(self, text: str, exc: PydanticValidationError) -> None:
        """A frame that is not a depth diff: quarantine its market if it names one of ours."""
        self._unreadable += 1
        try:
            stream = json.loads(text).get("stream")
        except (ValueError, AttributeError):
            stream = None
        sync = self._by_stream.get(stream) if isinstance(stream, str) else None
        if sync is not None:
            self._quarantine(sync, QuarantineReason.MALFORMED, f"{exc.error_count()} error(s)")

    def _quarantine(self, sync: BookSynchronizer, code: QuarantineReason, detail: str) -> None:
        sync.quarantine(code, detail)
        self._live_changed.set()
        self._schedule_resync(sync)

    def _publish(self, sync: BookSynchronizer) -> None:
        self._last_sequence = sync.book.sequence
        self._fanout.publish(sync.market_id)

    def _view(self, market_id: str) -> OrderBook | None:
        return self._syncs[market_id].view()

    def _schedule_resync(self, sync: BookSynchronizer) -> None:
        if self._stopped or self._stream is None or not self._stream.connected:
            return
        task = self._resyncs.get(sync.market_id)
        if task is None or task.done():
            self._resyncs[sync.market_id] = asyncio.create_task(
                self._resync(sync), name=f"resync {sync.market_id}"
            )

    async def _resync(self, sync: BookSynchronizer) -> None:
        """Fetch snapshots until the market is LIVE again (or the stream drops)."""
        spec, backoff = sync.spec, _SNAPSHOT_RETRY_S
        stream = self._stream
        while not sync.live and not self._stopped and stream is not None and stream.connected:
            try:
                snapshot = await self._rest.depth(spec.symbol, self.config.depth_limit)
                bids, asks = spec.levels(snapshot.bids), spec.levels(snapshot.asks)
            except VenueRateLimitError as exc:
                self.last_error = exc.message
                await asyncio.sleep(exc.retry_after)
                continue
            except VenueError as exc:
                self.last_error = exc.message
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _SNAPSHOT_BACKOFF_MAX_S)
                continue
            except ValueError as exc:
                sync.quarantine(QuarantineReason.MALFORMED, f"snapshot: {exc}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _SNAPSHOT_BACKOFF_MAX_S)
                continue
            except Exception:
                # Nothing else is expected; keep trying rather than leave the market dark.
                log.exception("%s: snapshot of %s failed", self.name, spec.symbol)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _SNAPSHOT_BACKOFF_MAX_S)
                continue
            received = now_ns()
            self._last_data_ns = max(received, self._last_data_ns or 0)
            outcome = sync.on_snapshot(snapshot.lastUpdateId, bids, asks, received)
            if outcome is SyncOutcome.LIVE:
                self._live_changed.set()
                self._publish(sync)
            elif outcome is SyncOutcome.SNAPSHOT_TOO_OLD:
                await asyncio.sleep(_SNAPSHOT_RETRY_S)
