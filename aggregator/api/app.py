"""The aiohttp application: every operation, its OpenAPI document and the /docs page."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

from aiohttp import web

from aggregator.api import market, stream, trading
from aggregator.api.context import ApiContext
from aggregator.api.docs import render_docs
from aggregator.api.keys import CONTEXT, DOCS_HTML, OPENAPI_JSON
from aggregator.api.market_views import (
    BookView,
    HealthView,
    MarketListView,
    PingView,
    VenueListView,
)
from aggregator.api.openapi import build_openapi
from aggregator.api.routing import Handler, Operation, Param, error_middleware
from aggregator.api.schemas import QuoteRequestBody, SwapRequestBody
from aggregator.api.views import QuoteView, SwapListView, SwapTicketView, SwapView
from aggregator.settlement.swap import SwapPhase

__all__ = ["API_TITLE", "create_app", "openapi_document", "operations"]

API_TITLE = "Multi-chain liquidity aggregator"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Best fills across an order-book venue and AMM pools on several chains, settled "
    "atomically with hash-timelock contracts. Amounts are strings of base-unit integers."
)

_ID = {"type": "string", "minLength": 1, "maxLength": 128}
_STATES = {"type": "string", "enum": [p.value for p in SwapPhase]}
_MD = "market data"
_WINDOW = (
    Param(
        "start_ns",
        "query",
        {"type": "integer", "minimum": 0},
        "Window start, ns (default: 1 h ago).",
    ),
    Param("end_ns", "query", {"type": "integer", "minimum": 1}, "Window end, ns (default: now)."),
)


async def _openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_JSON], content_type="application/json")


async def _docs(request: web.Request) -> web.Response:
    return web.Response(body=request.app[DOCS_HTML], content_type="text/html", charset="utf-8")


def operations() -> list[Operation]:
    """Every endpoint of the API, as served and as documented."""
    ops = [
        Operation("POST", "/v1/quotes", trading.create_quote, "Quote a swap", "quotes",
                  body=QuoteRequestBody, response=QuoteView, status=201,
                  errors=(400, 413, 422, 429, 503),
                  description="Assets by canonical symbol at a chain key, or by token address "
                  "with chain id. Firm quotes reserve inventory and can be swapped."),
        Operation("GET", "/v1/quotes/{quote_id}", trading.get_quote, "A quote by id", "quotes",
                  response=QuoteView, errors=(404, 429),
                  params=(Param("quote_id", "path", _ID, "Quote id."),)),
        Operation("POST", "/v1/swaps", trading.create_swap, "Swap a firm quote", "swaps",
                  body=SwapRequestBody, response=SwapTicketView, status=201,
                  errors=(400, 401, 404, 409, 413, 422, 429), auth=True,
                  description="Returns the exact lock the trader sends on the source chain "
                  "(terms and calldata) and the lock the resolver will make for it."),
        Operation("GET", "/v1/swaps/{swap_id}", trading.get_swap, "A swap by id", "swaps",
                  response=SwapView, errors=(401, 404, 429), auth=True,
                  params=(Param("swap_id", "path", _ID, "Swap id (the source lock's id)."),)),
        Operation("GET", "/v1/swaps", trading.list_swaps, "Swaps, newest first", "swaps",
                  response=SwapListView, errors=(401, 422, 429), auth=True,
                  params=(
                      Param("state", "query", _STATES, "Only swaps in this state."),
                      Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500},
                            "Most swaps returned (default 100)."),
                  )),
        Operation("GET", "/v1/venues", market.list_venues, "Venues and their health", _MD,
                  response=VenueListView),
        Operation("GET", "/v1/markets", market.list_markets, "Markets with their mid", _MD,
                  response=MarketListView,
                  params=(Param("venue", "query", {"type": "string"}, "Only this venue."),)),
        Operation("GET", "/v1/books/{market}", market.get_book, "Depth ladder of a market",
                  "market data", response=BookView, errors=(404, 422, 503),
                  params=(
                      Param("market", "path", _ID, "Market id, e.g. alpha:0x... or clob:WETHUSDC."),
                      Param("levels", "query", {"type": "integer", "minimum": 1, "maximum": 200},
                            "Ladder levels per side."),
                      Param("step_bps", "query", {"type": "integer", "minimum": 1, "maximum": 1000},
                            "Ladder step from the mid, bps."),
                  )),
        Operation("GET", "/v1/health", market.get_health, "Health per connector and chain",
                  "market data", response=HealthView, extra_responses={"503": HealthView}),
        Operation("GET", "/v1/stream", stream.stream, "Live quotes and swap states (WebSocket)",
                  "stream", status=101, errors=(400, 401),
                  description="Upgrade to WebSocket; see the module documentation for messages."),
        Operation("GET", "/v1/ping", market.ping, "Liveness", "service", response=PingView),
        Operation("GET", "/metrics", market.get_metrics, "Prometheus metrics", "service",
                  content_type="text/plain"),
        Operation("GET", "/openapi.json", _openapi, "This document", "service",
                  content_type="application/json"),
        Operation("GET", "/docs", _docs, "Human-readable documentation", "service",
                  content_type="text/html"),
    ]  # fmt: skip
    for name, (handler, model) in market.ANALYTICS.items():
        ops.append(
            Operation(
                "GET",
                f"/v1/analytics/{name}",
                handler,
                f"Analytics: {name}",
                "analytics",
                response=model,
                errors=(422, 502, 503),
                params=_WINDOW,
            )
        )
    return ops


def openapi_document() -> dict[str, object]:
    return build_openapi(
        operations(), title=API_TITLE, version=API_VERSION, description=API_DESCRIPTION
    )


def _route_name(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource
    return resource.canonical if resource is not None else "unmatched"


_WORKER = str(os.getpid())


@web.middleware
async def _count(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    request.app[CONTEXT].metrics.observe_request(_route_name(request), response.status)
    if not response.prepared:
        response.headers["X-Worker"] = _WORKER
    return response


def create_app(context: ApiContext, *, manage_context: bool = True) -> web.Application:
    """The app serving ``context``; with ``manage_context`` it starts and closes it."""
    app = web.Application(
        middlewares=[_count, error_middleware],
        client_max_size=context.settings.api.max_body_bytes,
    )
    app[CONTEXT] = context
    spec = openapi_document()
    app[OPENAPI_JSON] = json.dumps(spec, separators=(",", ":")).encode()
    app[DOCS_HTML] = render_docs(spec).encode()
    for op in operations():
        app.router.add_route(op.method, op.path, op.handler, name=op.operation_id)
    if manage_context:

        async def lifecycle(app: web.Application) -> AsyncIterator[None]:
            await app[CONTEXT].start()
            yield
            await app[CONTEXT].close()

        app.cleanup_ctx.append(lifecycle)
    return app
