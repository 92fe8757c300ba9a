"""Faults on the live stream: a lost message or a dropped connection, against the local venue.

The connector's own metrics time each resync (quarantine to LIVE, monotonic clock); the
one-second bound on recovering from a lost message is the connector's specification.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aggregator.models import AssetRegistry
from aggregator.plugins.protocol import HealthStatus
from connectors.offchain_venue import (
    OffchainVenueConfig,
    OffchainVenueConnector,
    QuarantineReason,
    SyncMetrics,
)
from tests.fixtures.venue import VenueProcess, VenueServer

from .conftest import VENUE, live_connector

RESYNC_BOUND_NS = 1_000_000_000
WAIT_S = 15.0


async def _watch_until(
    connector: OffchainVenueConnector, done: Callable[[], bool], seen: dict[str, set[str]]
) -> None:
    """Poll health every millisecond, recording every quarantine reason shown, until ``done``."""
    deadline = time.monotonic() + WAIT_S
    while not done():
        for market_id, reason in connector.health().quarantined.items():
            seen.setdefault(market_id, set()).add(reason)
            assert connector.liquidity(market_id) is None
        assert time.monotonic() < deadline, f"no recovery within {WAIT_S} s: {connector.metrics()}"
        await asyncio.sleep(0.001)


async def test_lost_message_quarantines_its_market_and_resyncs_within_a_second(
    venue_server: VenueServer, registry: AssetRegistry
) -> None:
    connector = live_connector(venue_server, registry)
    await connector.start()
    try:
        async with asyncio.timeout(WAIT_S):
            await connector.wait_ready()
        before = connector.metrics()
        connector.drop_next_messages(1)

        def recovered() -> bool:
            now = connector.metrics()
            return any(now[m].resyncs > before[m].resyncs for m in now)

        seen: dict[str, set[str]] = {}
        await _watch_until(connector, recovered, seen)
        after = connector.metrics()
        hit = [m for m in after if after[m].quarantines > before[m].quarantines]
        assert len(hit) == 1, after
        metrics: SyncMetrics = after[hit[0]]
        assert metrics.resyncs == before[hit[0]].resyncs + 1
        assert metrics.last_reason is not None
        assert metrics.last_reason.startswith(f"{QuarantineReason.GAP}:")
        assert metrics.last_resync_ns is not None
        assert 0 < metrics.last_resync_ns < RESYNC_BOUND_NS
        # While it lasted, the quarantine was visible in health with its reason.
        assert seen.get(hit[0]) == {metrics.last_reason}
        assert set(seen) == {hit[0]}
        # The other markets never left sync.
        for market_id in after:
            if market_id != hit[0]:
                assert after[market_id].quarantines == before[market_id].quarantines
        assert connector.health().status is HealthStatus.HEALTHY
        assert connector.liquidity(hit[0]) is not None
    finally:
        await connector.stop()


async def test_dropped_connection_quarantines_every_market_until_reconnected_and_resynced(
    venue_server: VenueServer, registry: AssetRegistry
) -> None:
    connector = live_connector(venue_server, registry)
    await connector.start()
    try:
        async with asyncio.timeout(WAIT_S):
            await connector.wait_ready()
        before = connector.metrics()
        await connector.drop_connection()

        def all_resynced() -> bool:
            now = connector.metrics()
            return all(now[m].resyncs > before[m].resyncs for m in now)

        seen: dict[str, set[str]] = {}
        await _watch_until(connector, all_resynced, seen)
        after = connector.metrics()
        assert set(seen) == set(after)
        for market_id, metrics in after.items():
            assert metrics.quarantines == before[market_id].quarantines + 1
            assert metrics.last_reason is not None
            assert metrics.last_reason.startswith(f"{QuarantineReason.DISCONNECTED}:")
            assert any(r.startswith(f"{QuarantineReason.DISCONNECTED}:") for r in seen[market_id])
        assert connector.health().status is HealthStatus.HEALTHY
    finally:
        await connector.stop()


async def test_venue_down_at_start_is_stale_then_picked_up_when_it_comes(
    registry: AssetRegistry,
) -> None:
    process = VenueProcess()
    config = {
        "rest_url": process.rest_url,
        "ws_url": process.rest_url.replace("http://", "ws://"),
        "api_key": process.accounts[0]["api_key"],
        "api_secret": process.accounts[0]["api_secret"],
        "reconnect_max_s": 0.2,
    }
    connector = OffchainVenueConnector(VENUE, OffchainVenueConfig.model_validate(config), registry)
    await connector.start()
    try:
        health = connector.health()
        assert health.status is HealthStatus.STALE
        assert health.reason is not None and "unreachable" in health.reason
        assert connector.markets() == []
        await asyncio.to_thread(process.start)
        async with asyncio.timeout(WAIT_S):
            await connector.wait_ready()
        assert {m.symbol for m in connector.markets()} == {p.symbol for p in registry.venue_pairs}
        assert connector.health().status is HealthStatus.HEALTHY
    finally:
        await connector.stop()
        await asyncio.to_thread(process.stop)
