"""Market-data endpoints (venues, markets, books, health), analytics, metrics and ping.

Everything here reads the worker's copy of the book cache, except swaps by
state in ``/metrics`` (Redis, shared) and analytics (QuestDB through
:class:`~aggregator.journal.Analytics`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from redis.exceptions import RedisError

from aggregator.api.keys import CONTEXT
from aggregator.api.market_views import (
    HealthView,
    MarketListView,
    PingView,
    VenueListView,
    VenueView,
    book_view,
    chain_health_view,
    connector_health_view,
    market_view,
)
from aggregator.api.routing import json_response
from aggregator.api.trading import query_int
from aggregator.errors import MarketNotFoundError, NoLiquidityError, RequestSchemaError
from aggregator.journal.aggregate import TimeWindow
from aggregator.journal.metrics import Analytics
from aggregator.plugins.protocol import HealthStatus
from aggregator.settlement.swap import SwapPhase

__all__ = [
    "ANALYTICS",
    "get_book",
    "get_health",
    "get_metrics",
    "list_markets",
    "list_venues",
    "ping",
]

_PING = PingView()
_PING_BODY = _PING.model_dump_json().encode()


async def ping(request: web.Request) -> web.Response:
    return web.Response(body=_PING_BODY, content_type="application/json")


async def list_venues(request: web.Request) -> web.Response:
    cache = request.app[CONTEXT].cache
    venues = []
    for name in sorted(cache.venues):
        record = cache.venues[name]
        kinds = {m.kind.value for m in record.markets}
        kind: Literal["book", "amm", "mixed", "none"] = "mixed" if kinds else "none"
        if kinds == {"book"}:
            kind = "book"
        elif kinds == {"amm"}:
            kind = "amm"
        health = cache.health(name)
        location = record.markets[0].location.key if record.markets else None
        venues.append(
            VenueView.model_construct(
                name=name,
                kind=kind,
                location=location,
                status=health.status.value,
                reason=health.reason,
                markets=len(record.markets),
            )
        )
    return json_response(VenueListView.model_construct(venues=venues))


async def list_markets(request: web.Request) -> web.Response:
    cache = request.app[CONTEXT].cache
    venue = request.query.get("venue")
    markets = [
        market_view(m, cache.liquidity.get(m.id))
        for m in sorted(cache.markets().values(), key=lambda m: m.id)
        if venue is None or m.venue == venue
    ]
    return json_response(MarketListView.model_construct(markets=markets))


async def get_book(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    market_id = request.match_info["market"]
    market = ctx.cache.markets().get(market_id)
    if market is None:
        raise MarketNotFoundError("no such market", market_id=market_id[:128])
    api = ctx.settings.api
    levels = query_int(request, "levels", api.book_levels, 1, 200)
    step = query_int(request, "step_bps", api.book_step_bps, 1, 1000)
    liquidity = ctx.cache.liquidity.get(market_id)
    if liquidity is None:
        raise NoLiquidityError("no data for this market yet", market_id=market_id)
    return json_response(book_view(market, liquidity, step, levels))


async def get_health(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    cache = ctx.cache
    now = time.time_ns()
    try:
        redis_ok = bool(await ctx.redis.ping())
    except (RedisError, OSError):
        redis_ok = False
    alive = cache.publisher_alive(now)
    connectors = [connector_health_view(cache.health(n, now), now) for n in sorted(cache.venues)]
    chains = [
        chain_health_view(r.chain, now)
        for r in sorted(cache.venues.values(), key=lambda r: r.name)
        if r.chain is not None
    ]
    healthy = [c for c in connectors if c.status == HealthStatus.HEALTHY.value]
    status: Literal["ok", "degraded", "down"]
    if not (alive and redis_ok and healthy):
        status = "down"
    elif len(healthy) < len(connectors):
        status = "degraded"
    else:
        status = "ok"
    view = HealthView.model_construct(
        status=status, market_data=alive, redis=redis_ok, connectors=connectors, chains=chains
    )
    return json_response(view, status=503 if status == "down" else 200)


async def get_metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    now = time.time_ns()
    keys = ctx.settlement.store.keys
    phases = list(SwapPhase)
    try:
        async with ctx.redis.pipeline(transaction=False) as pipe:
            for phase in phases:
                pipe.zcard(keys.phase(phase))
            counts = await pipe.execute()
        by_state = {p.value: int(c) for p, c in zip(phases, counts, strict=True)}
    except (RedisError, OSError):
        by_state = {}
    ages, up = {}, {}
    for name in ctx.cache.venues:
        health = ctx.cache.health(name, now)
        up[name] = health.status is HealthStatus.HEALTHY
        if health.last_update_ns is not None:
            ages[name] = max(0.0, (now - health.last_update_ns) / 1e9)
    chains = {
        r.chain.key: max(0.0, (now - r.chain.ts_recv) / 1e9)
        for r in ctx.cache.venues.values()
        if r.chain is not None
    }
    text = ctx.metrics.render(
        swaps_by_state=by_state, connector_age_s=ages, connector_up=up, chain_age_s=chains
    )
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


def _window(request: web.Request) -> TimeWindow:
    now = time.time_ns()
    values = {}
    for name, default in (("start_ns", now - 3600 * 10**9), ("end_ns", now)):
        raw = request.query.get(name)
        try:
            values[name] = default if raw is None else int(raw)
        except ValueError:
            values[name] = -1
    if not 0 <= values["start_ns"] < values["end_ns"] <= 2**63 - 1:
        raise RequestSchemaError(
            "start_ns and end_ns are integer ns since the epoch with start_ns < end_ns",
            fields=[{"field": "start_ns", "message": "invalid window", "type": "range"}],
        )
    return TimeWindow(start_ns=values["start_ns"], end_ns=values["end_ns"])


def _analytics(
    method: Callable[[Analytics, TimeWindow], Awaitable[BaseModel]], name: str
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        window = _window(request)
        result = await method(request.app[CONTEXT].analytics, window)
        return json_response(result)

    handler.__name__ = f"analytics_{name.replace('-', '_')}"
    return handler


ANALYTICS: dict[str, tuple[Callable[[web.Request], Awaitable[web.Response]], Any]] = {}
"""Analytics route name -> (handler, response model); filled below."""


def _register_analytics() -> None:
    from aggregator.journal.aggregate import (
        FinalityReport,
        SettlementEfficiency,
        SyncLatencyReport,
        Throughput,
    )
    from aggregator.journal.metrics import AnalyticsReport

    table: list[tuple[str, Callable[[Analytics, TimeWindow], Awaitable[BaseModel]], Any]] = [
        ("report", Analytics.report, AnalyticsReport),
        ("finality", Analytics.finality, FinalityReport),
        ("efficiency", Analytics.settlement_efficiency, SettlementEfficiency),
        ("throughput", Analytics.throughput, Throughput),
        ("sync-latency", Analytics.sync_latency, SyncLatencyReport),
    ]
    for name, method, model in table:
        ANALYTICS[name] = (_analytics(method, name), model)


_register_analytics()
