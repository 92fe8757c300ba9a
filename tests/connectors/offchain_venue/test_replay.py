"""The whole connector against a replay venue serving the recorded payloads.

A small aiohttp server on loopback answers exchangeInfo and depth with the recorded
files and pushes the recorded diff frames, one by one as the test says, on the combined
stream. The connector must drop what the snapshot covers, apply the overlapping diff,
detect the gap, quarantine, resync from the next snapshot and end on the exact book a
naive replay of the same data gives; a malformed frame quarantines the market too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from aggregator.models import AssetRegistry, OrderBook
from connectors.offchain_venue import OffchainVenueConfig, OffchainVenueConnector, QuarantineReason
from connectors.offchain_venue.schemas import CombinedDepthMessage, DepthSnapshot

from .conftest import VENUE, diff_frames, resource_json, resource_text


@dataclass
class ReplayVenue:
    """What the replay server serves; the test appends snapshots and pushes frames."""

    snapshots: list[str] = field(default_factory=list)
    frames: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    depth_requests: int = 0
    url: str = ""


async def _serve(venue: ReplayVenue) -> AsyncIterator[None]:
    async def exchange_info(request: web.Request) -> web.Response:
        return web.Response(
            text=resource_text("exchange_info.json"), content_type="application/json"
        )

    async def depth(request: web.Request) -> web.Response:
        venue.depth_requests += 1
        return web.Response(text=venue.snapshots[-1], content_type="application/json")

    async def stream(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        closed = asyncio.ensure_future(ws.receive())  # the client's close ends the stream
        while True:
            frame = asyncio.ensure_future(venue.frames.get())
            await asyncio.wait({frame, closed}, return_when=asyncio.FIRST_COMPLETED)
            if closed.done():
                frame.cancel()
                return ws
            await ws.send_str(frame.result())

    app = web.Application()
    app.router.add_get("/api/v3/exchangeInfo", exchange_info)
    app.router.add_get("/api/v3/depth", depth)
    app.router.add_get("/stream", stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    venue.url = f"127.0.0.1:{port}"
    try:
        yield
    finally:
        await runner.cleanup()


@pytest.fixture
async def replay() -> AsyncIterator[ReplayVenue]:
    venue = ReplayVenue()
    async for _ in _serve(venue):
        yield venue


def _reference(snapshot: dict[str, Any], frames: list[str]) -> tuple[list[Any], list[Any]]:
    sides = [
        {Decimal(p): Decimal(q) for p, q in snapshot["bids"]},
        {Decimal(p): Decimal(q) for p, q in snapshot["asks"]},
    ]
    for frame in frames:
        data = json.loads(frame)["data"]
        if data["u"] <= snapshot["lastUpdateId"]:
            continue
        for side, levels in zip(sides, (data["b"], data["a"]), strict=True):
            for p, q in levels:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
    return sorted(sides[0].items(), reverse=True), sorted(sides[1].items())


def _levels(book: OrderBook) -> tuple[list[Any], list[Any]]:
    unit = Decimal(10) ** -book.base_decimals
    return (
        [(lvl.price, lvl.size * unit) for lvl in book.bids],
        [(lvl.price, lvl.size * unit) for lvl in book.asks],
    )


async def _until(predicate: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(10):
            while not predicate():  # noqa: ASYNC110 - the connector's state, polled
                await asyncio.sleep(0.002)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def test_recorded_stream_with_overlap_and_gap_ends_on_the_exact_book(
    replay: ReplayVenue, registry: AssetRegistry
) -> None:
    frames = diff_frames()
    updates = [CombinedDepthMessage.model_validate_json(f).data for f in frames]
    gap_at = next(i for i, u in enumerate(updates) if i and u.U > updates[i - 1].u + 1)
    replay.snapshots.append(resource_text("depth_snapshot_wethusdc.json"))
    config = OffchainVenueConfig(
        rest_url=f"http://{replay.url}", ws_url=f"ws://{replay.url}", symbols=("WETHUSDC",)
    )
    connector = OffchainVenueConnector(VENUE, config, registry)
    market_id = f"{VENUE}:WETHUSDC"
    await connector.start()
    try:
        async with asyncio.timeout(10):
            await connector.wait_ready()
        for frame in frames[:gap_at]:
            replay.frames.put_nowait(frame)
        first = DepthSnapshot.model_validate_json(replay.snapshots[0])
        await _until(
            lambda: connector.metrics()[market_id].sequence == updates[gap_at - 1].u, "pre-gap"
        )
        book = connector.liquidity(market_id)
        assert isinstance(book, OrderBook)
        snapshot = resource_json("depth_snapshot_wethusdc.json")
        assert _levels(book) == _reference(snapshot, frames[:gap_at])
        assert first.lastUpdateId < book.sequence
        # The gap: quarantined until the next snapshot, which covers the gapped diff.
        replay.snapshots.append(resource_text("depth_snapshot_wethusdc_resync.json"))
        for frame in frames[gap_at:]:
            replay.frames.put_nowait(frame)
        await _until(lambda: connector.metrics()[market_id].sequence == updates[-1].u, "end")
        metrics = connector.metrics()[market_id]
        assert metrics.quarantines == 1 and metrics.resyncs == 1
        assert metrics.last_reason is not None
        assert metrics.last_reason.startswith(f"{QuarantineReason.GAP}:")
        book = connector.liquidity(market_id)
        assert isinstance(book, OrderBook)
        resync = resource_json("depth_snapshot_wethusdc_resync.json")
        assert _levels(book) == _reference(resync, frames[gap_at:])
        assert replay.depth_requests == 2
    finally:
        await connector.stop()


async def test_malformed_frame_quarantines_the_market_it_names(
    replay: ReplayVenue, registry: AssetRegistry
) -> None:
    replay.snapshots.append(resource_text("depth_snapshot_wethusdc.json"))
    config = OffchainVenueConfig(
        rest_url=f"http://{replay.url}", ws_url=f"ws://{replay.url}", symbols=("WETHUSDC",)
    )
    connector = OffchainVenueConnector(VENUE, config, registry)
    market_id = f"{VENUE}:WETHUSDC"
    await connector.start()
    try:
        async with asyncio.timeout(10):
            await connector.wait_ready()
        bad = json.loads(diff_frames()[2])
        bad["data"]["b"] = [["2999.4x", "1.0"]]
        replay.frames.put_nowait(json.dumps(bad))
        await _until(lambda: connector.metrics()[market_id].quarantines == 1, "quarantine")
        last = connector.metrics()[market_id].last_reason or ""
        assert last.startswith(f"{QuarantineReason.MALFORMED}:")
        # The only snapshot on offer is not older than the book, so it resyncs from it.
        await _until(lambda: connector.metrics()[market_id].resyncs == 1, "resync")
        assert connector.liquidity(market_id) is not None
    finally:
        await connector.stop()
