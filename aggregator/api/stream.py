"""WebSocket ``/v1/stream``: live quotes for a pair and amount, and a swap's state changes.

Client messages (JSON):

* ``{"op": "subscribe_quote", "id": TAG, "request": <POST /v1/quotes body>}``: a
  quote now, then a new one whenever the route changes (venues, shares or output);
* ``{"op": "subscribe_swap", "id": TAG, "swap_id": ID}``: the swap now, then at
  each state change (needs the ``X-API-Key`` header on the handshake);
* ``{"op": "unsubscribe", "id": TAG}``.

Server messages: ``{"type": "subscribed"|"unsubscribed", "id"}``,
``{"type": "quote", "id", "quote"}``, ``{"type": "swap", "id", "swap"}`` and
``{"type": "error", "id", "error": {code, message, details}}``. Streamed quotes
are not firm; they are stored like any other, so they can be fetched by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from aiohttp import WSMsgType, web
from pydantic import ValidationError as PydanticValidationError

from aggregator.api.context import ApiContext
from aggregator.api.keys import CONTEXT
from aggregator.api.schemas import QuoteRequestBody
from aggregator.api.trading import client_ip
from aggregator.api.views import quote_view, swap_view
from aggregator.errors import (
    AggregatorError,
    AuthError,
    MalformedJsonError,
    NoLiquidityError,
    RequestSchemaError,
    ValidationError,
)
from aggregator.models.quote import Quote, QuoteRequest

__all__ = ["stream"]

log = logging.getLogger(__name__)

_POLL_S = 0.05


def _route_key(quote: Quote) -> tuple[Any, ...]:
    return (
        quote.amount_in,
        quote.amount_out,
        tuple(
            (p.share_bps, tuple((leg.venue, leg.market_id) for leg in p.legs)) for p in quote.paths
        ),
    )


class _Session:
    def __init__(
        self, ctx: ApiContext, ws: web.WebSocketResponse, key: str | None, ip: str
    ) -> None:
        self.ctx = ctx
        self.ws = ws
        self.key = key
        self.ip = ip
        self.subs: dict[str, asyncio.Task[None]] = {}

    async def send(self, message: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(message, separators=(",", ":"), default=str))

    async def error(self, tag: str | None, exc: AggregatorError) -> None:
        await self.send({"type": "error", "id": tag, "error": exc.to_dict()})

    async def handle(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            await self.error(None, MalformedJsonError("the message is not valid JSON"))
            return
        if not isinstance(message, dict):
            await self.error(None, RequestSchemaError("a message is a JSON object"))
            return
        tag = message.get("id")
        tag = str(tag)[:64] if tag is not None else None
        op = message.get("op")
        try:
            if op == "subscribe_quote":
                await self._subscribe_quote(tag, message.get("request"))
            elif op == "subscribe_swap":
                await self._subscribe_swap(tag, message.get("swap_id"))
            elif op == "unsubscribe":
                await self.unsubscribe(tag)
            else:
                raise RequestSchemaError(f"unknown op {str(op)[:40]!r}", op=str(op)[:40])
        except AggregatorError as exc:
            await self.error(tag, exc)

    def _add(self, tag: str | None, task: asyncio.Task[None]) -> str:
        if tag is None:
            task.cancel()
            raise RequestSchemaError("a subscription needs an id")
        if tag in self.subs or len(self.subs) >= self.ctx.settings.api.ws_max_subscriptions:
            task.cancel()
            raise ValidationError("the id is taken or too many subscriptions", id=tag)
        self.subs[tag] = task
        return tag

    async def _subscribe_quote(self, tag: str | None, body: Any) -> None:
        ctx = self.ctx
        await ctx.limiter.take("quote", self.ip, ctx.settings.api.quote_rate)
        try:
            parsed = QuoteRequestBody.model_validate(body)
        except PydanticValidationError as exc:
            fields = [".".join(str(p) for p in e["loc"]) for e in exc.errors()]
            raise RequestSchemaError(
                "the request does not match the schema", fields=fields
            ) from None
        request = ctx.quote_request(parsed.model_copy(update={"firm": False}))
        tag = self._add(tag, asyncio.create_task(self._quotes(tag or "", request)))
        await self.send({"type": "subscribed", "id": tag})

    async def _quotes(self, tag: str, request: QuoteRequest) -> None:
        last_key: tuple[Any, ...] | None = None
        last_error: str | None = None
        generation = -1
        while True:
            engine = self.ctx.engine
            snapshot = engine.current()
            if engine.generation != generation:
                generation = engine.generation
                try:
                    quote = self.ctx.engine.route(snapshot, request)
                except NoLiquidityError as exc:
                    error = self.ctx.no_liquidity(exc, request)
                    if error.code != last_error:
                        last_error, last_key = error.code, None
                        await self.error(tag, error)
                except AggregatorError as exc:
                    if exc.code != last_error:
                        last_error, last_key = exc.code, None
                        await self.error(tag, exc)
                else:
                    key = _route_key(quote)
                    if key != last_key:
                        last_key, last_error = key, None
                        await self.ctx.engine.record(quote)
                        view = quote_view(quote, time.time_ns())
                        await self.send(
                            {"type": "quote", "id": tag, "quote": view.model_dump(mode="json")}
                        )
            await asyncio.sleep(_POLL_S)

    async def _subscribe_swap(self, tag: str | None, swap_id: Any) -> None:
        if self.key is None:
            raise AuthError("swap subscriptions need an API key on the handshake (X-API-Key)")
        if not isinstance(swap_id, str) or not swap_id or len(swap_id) > 128:
            raise RequestSchemaError("swap_id must be a swap id string")
        swap = await self.ctx.settlement.get_swap(swap_id)
        tag = self._add(tag, asyncio.create_task(self._swaps(tag or "", swap.id)))
        await self.send({"type": "subscribed", "id": tag})

    async def _swaps(self, tag: str, swap_id: str) -> None:
        version = -1
        interval = self.ctx.settings.api.ws_swap_poll_s
        while True:
            try:
                swap = await self.ctx.settlement.get_swap(swap_id)
            except AggregatorError as exc:
                await self.error(tag, exc)
                return
            if swap.version != version:
                version = swap.version
                legs = await self.ctx.settlement.store.legs(swap.id)
                view = swap_view(swap, legs)
                await self.send({"type": "swap", "id": tag, "swap": view.model_dump(mode="json")})
                if swap.terminal:
                    return
            await asyncio.sleep(interval)

    async def unsubscribe(self, tag: str | None) -> None:
        task = self.subs.pop(tag or "", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.send({"type": "unsubscribed", "id": tag})

    async def close(self) -> None:
        for task in self.subs.values():
            task.cancel()
        for task in self.subs.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.subs.clear()


async def stream(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=ctx.settings.api.max_body_bytes)
    if not ws.can_prepare(request).ok:
        raise ValidationError("this endpoint speaks WebSocket: send an upgrade request")
    key = None
    if request.headers.get("X-API-Key"):
        key = ctx.auth.require(request)
    await ws.prepare(request)
    session = _Session(ctx, ws, key, client_ip(request))
    try:
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                await session.handle(message.data)
            elif message.type is WSMsgType.ERROR:
                break
    finally:
        await session.close()
    return ws
