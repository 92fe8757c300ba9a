"""The connector's books against fresh REST snapshots of the local venue, for a minute.

The venue's market maker requotes every 50-200 ms, so the books change all the time.
Round after round, each market's depth snapshot is fetched over plain HTTP and parsed
here with ``Decimal`` (independently of the connector's parser); the connector's book
at that snapshot's ``lastUpdateId`` (from its bounded history, or its current book) must
equal it level by level. Any divergence, any quarantine, or any snapshot id the
connector cannot place fails the test.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx
import pytest

from aggregator.models import AssetRegistry, OrderBook
from tests.fixtures.venue import VenueServer

from .conftest import live_connector

pytestmark = pytest.mark.slow

RUN_S = 62.0
MIN_CHECKPOINTS = 100
CATCH_UP_S = 5.0
DEPTH = 1000

Levels = list[tuple[Decimal, int]]


def _levels(raw: list[list[str]], decimals: int) -> Levels:
    out = []
    for price, qty in raw:
        size = Decimal(qty) * 10**decimals
        assert size == size.to_integral_value(), qty
        out.append((Decimal(price), int(size)))
    return out


def _as_levels(book: OrderBook) -> tuple[Levels, Levels]:
    return [(p, q) for p, q in book.bids], [(p, q) for p, q in book.asks]


async def test_book_equals_fresh_snapshots_at_the_same_update_id_for_a_minute(
    venue_server: VenueServer, registry: AssetRegistry
) -> None:
    connector = live_connector(venue_server, registry, history=20_000, depth_limit=DEPTH)
    await connector.start()
    checkpoints = 0
    ids: dict[str, set[int]] = {}
    try:
        async with asyncio.timeout(15):
            await connector.wait_ready()
        markets = connector.markets()
        async with httpx.AsyncClient(base_url=venue_server.rest_url, timeout=10) as http:
            started = time.monotonic()
            while time.monotonic() - started < RUN_S or checkpoints < MIN_CHECKPOINTS:
                assert time.monotonic() - started < 3 * RUN_S, "too few checkpoints"
                for market in markets:
                    response = await http.get(
                        "/api/v3/depth", params={"symbol": market.symbol, "limit": DEPTH}
                    )
                    if response.status_code == 429:
                        # The venue's request-weight budget is shared by the whole test
                        # session: wait as told, as any well-behaved client does.
                        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                        continue
                    response.raise_for_status()
                    snapshot = response.json()
                    update_id = int(snapshot["lastUpdateId"])
                    decimals = registry.decimals(market.base.asset)
                    expected = (
                        _levels(snapshot["bids"], decimals),
                        _levels(snapshot["asks"], decimals),
                    )
                    deadline = time.monotonic() + CATCH_UP_S
                    while (book := connector.liquidity(market.id)) is None or (
                        book.sequence < update_id
                    ):
                        assert time.monotonic() < deadline, (
                            f"{market.id} did not reach update {update_id} in {CATCH_UP_S} s"
                        )
                        await asyncio.sleep(0.002)
                    ours = connector.book_at(market.id, update_id)
                    assert ours is not None, (
                        f"{market.id}: no book state at update {update_id} "
                        f"(connector at {book.sequence})"
                    )
                    assert ours.sequence == update_id
                    assert _as_levels(ours) == expected, (
                        f"{market.id} diverges from the venue at update {update_id}"
                    )
                    checkpoints += 1
                    ids.setdefault(market.id, set()).add(update_id)
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - started
        metrics = connector.metrics()
    finally:
        await connector.stop()
    assert elapsed >= 60
    assert checkpoints >= MIN_CHECKPOINTS
    for market_id, seen in ids.items():
        # The books really moved: most checkpoints saw a new state.
        assert len(seen) > MIN_CHECKPOINTS // len(ids), (market_id, len(seen))
        assert metrics[market_id].quarantines == 0, metrics[market_id]
        # every state checked came from an applied diff (a slow market may have them all checked)
        assert metrics[market_id].diffs_applied >= len(seen)
