"""Quote and swap endpoints.

Quotes are public, rate-limited per client IP. Swap endpoints need an API key
(``X-API-Key``) and are rate-limited per key, and creating a swap also per
trader source address.
"""

from __future__ import annotations

import time

from aiohttp import web

from aggregator.api.context import checksummed
from aggregator.api.keys import CONTEXT
from aggregator.api.routing import json_response, read_body, read_raw
from aggregator.api.schemas import SwapRequestBody
from aggregator.api.views import SwapListView, quote_view, swap_ticket_view, swap_view
from aggregator.errors import (
    AggregatorError,
    NoLiquidityError,
    QuoteExpiredError,
    QuoteNotFirmError,
    QuoteNotFoundError,
    RateLimitedError,
    RequestSchemaError,
    SwapNotFoundError,
)
from aggregator.settlement.swap import SwapPhase

__all__ = [
    "client_ip",
    "create_quote",
    "create_swap",
    "get_quote",
    "get_swap",
    "list_swaps",
    "query_int",
]

_MAX_ID = 128


def client_ip(request: web.Request) -> str:
    return request.remote or "unknown"


async def create_quote(request: web.Request) -> web.Response:
    """Every request takes a token or is refused (429 first, whatever else is wrong with it).

    A quote that is not firm is routed first (memoized) and its token is taken
    in the same round trip that stores and journals it, only if granted; every
    other request takes its token on its own before it is answered.
    """
    ctx = request.app[CONTEXT]
    api = ctx.settings.api
    who = client_ip(request)
    ctx.limiter.check("quote", who)
    try:
        wanted = ctx.quote_request_from(await read_raw(request, api.max_body_bytes))
    except AggregatorError:
        await ctx.limiter.take("quote", who, api.quote_rate)
        raise
    taken = False
    started = time.perf_counter()
    try:
        if wanted.firm:
            taken = True
            await ctx.limiter.take("quote", who, api.quote_rate)
            quote = await ctx.engine.quote(wanted)
        else:
            quote = ctx.engine.route(ctx.engine.current(), wanted)
            taken = True
            by_reference = ctx.engine.by_reference(quote)
            if by_reference is None:
                recording = ctx.engine.recording(quote)
                await ctx.limiter.take_then("quote", who, api.quote_rate, recording)
            else:
                replies = await ctx.limiter.take_then_lua(
                    "quote", who, api.quote_rate, by_reference.lua, by_reference.args
                )
                await by_reference.admitted(replies, ctx.batcher)
    except RateLimitedError:
        raise
    except AggregatorError as exc:
        if not taken:
            await ctx.limiter.take("quote", who, api.quote_rate)
        error = ctx.no_liquidity(exc, wanted) if isinstance(exc, NoLiquidityError) else exc
        ctx.metrics.observe_quote(time.perf_counter() - started, error.code)
        if error is exc:
            raise
        raise error from None
    ctx.metrics.observe_quote(time.perf_counter() - started, "ok")
    answer = ctx.views.body(quote, time.time_ns())
    return web.Response(body=answer, status=201, content_type="application/json")


async def get_quote(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    await ctx.limiter.take("quote", client_ip(request), ctx.settings.api.quote_rate)
    quote_id = request.match_info["quote_id"]
    if len(quote_id) > _MAX_ID:
        raise QuoteNotFoundError("no such quote", quote_id=quote_id[:_MAX_ID])
    quote = await ctx.quotes.get(quote_id)
    return json_response(quote_view(quote, time.time_ns()))


async def create_swap(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    api = ctx.settings.api
    key = ctx.auth.require(request)
    await ctx.limiter.take("swap_key", key[:32], api.swap_rate_per_key)
    body = await read_body(request, SwapRequestBody, api.max_body_bytes)
    source = checksummed(body.source_address, "source_address")
    destination = checksummed(body.destination_address, "destination_address")
    await ctx.limiter.take("swap_address", source, api.swap_rate_per_address)
    quote = await ctx.quotes.get(body.quote_id)
    if quote.expires_ns <= time.time_ns():
        raise QuoteExpiredError("the quote has expired", quote_id=quote.id)
    if not quote.request.firm:
        raise QuoteNotFirmError(
            'only a firm quote can be swapped: ask for one with "firm": true',
            quote_id=quote.id,
        )
    ticket = await ctx.settlement.create_swap(quote.id, source, destination, body.hashlock)
    return json_response(swap_ticket_view(ticket), status=201)


async def get_swap(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    key = ctx.auth.require(request)
    await ctx.limiter.take("swap_key", key[:32], ctx.settings.api.swap_rate_per_key)
    swap_id = request.match_info["swap_id"]
    if len(swap_id) > _MAX_ID:
        raise SwapNotFoundError("no such swap", swap_id=swap_id[:_MAX_ID])
    swap = await ctx.settlement.get_swap(swap_id)
    legs = await ctx.settlement.store.legs(swap.id)
    if swap.phase is SwapPhase.COMPLETED:
        ctx.metrics.observe_settled(swap.id, (swap.updated_ns - swap.created_ns) / 1e9)
    return json_response(swap_view(swap, legs))


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise RequestSchemaError(
            f"{name} must be an integer within {low}..{high}",
            fields=[{"field": name, "message": f"within {low}..{high}", "type": "range"}],
        )
    return value


async def list_swaps(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    key = ctx.auth.require(request)
    await ctx.limiter.take("swap_key", key[:32], ctx.settings.api.swap_rate_per_key)
    state = request.query.get("state")
    phase = None
    if state is not None:
        try:
            phase = SwapPhase(state)
        except ValueError:
            raise RequestSchemaError(
                f"unknown state {state[:40]!r}",
                fields=[{"field": "state", "message": "not a swap state", "type": "enum"}],
            ) from None
    limit = query_int(request, "limit", 100, 1, 500)
    swaps = await ctx.settlement.list_swaps(phase, limit)
    return json_response(SwapListView.model_construct(swaps=[swap_view(s) for s in swaps]))
