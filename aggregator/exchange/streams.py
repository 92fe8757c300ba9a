"""WebSocket market streams: depth diffs and trades, as Binance Spot sends them.

Stream names are ``<symbol lower>@depth``, ``<symbol>@depth@100ms`` (both carry every
diff as soon as the engine emits it, so a message never covers more than one engine
operation or one market-maker requote) and ``<symbol>@trade``. Raw connections
(``/ws/<name>[/<name>...]``) receive the payload itself; combined ones
(``/stream?streams=a/b``) receive ``{"stream": name, "data": payload}``. Clients may
also send ``SUBSCRIBE``, ``UNSUBSCRIBE`` and ``LIST_SUBSCRIPTIONS`` requests.

Every diff follows the previous one of its symbol without a gap (``U`` is the previous
``u`` + 1), so applying the diffs with ``u`` > a REST snapshot's ``lastUpdateId`` to that
snapshot reproduces the book. A client that cannot keep up (its queue of
``queue_size`` messages fills) is disconnected rather than sent a gapped stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aiohttp import web

from aggregator.exchange import wire
from aggregator.exchange.orders import BookUpdate, Event, TradeEvent
from aggregator.exchange.units import SymbolSpec

__all__ = ["StreamHub", "Subscriber"]

_DEPTH_KINDS = ("depth", "depth@100ms")


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


class Subscriber:
    """One WebSocket connection and the queue of messages waiting to be sent on it."""

    __slots__ = ("combined", "overflowed", "queue", "streams", "ws")

    def __init__(self, ws: web.WebSocketResponse, combined: bool, queue_size: int) -> None:
        self.ws = ws
        self.combined = combined
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.streams: set[str] = set()
        self.overflowed = False

    def offer(self, text: str) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed = True

    async def pump(self) -> None:
        """Send queued messages until the connection closes or falls behind."""
        while True:
            text = await self.queue.get()
            if self.overflowed:
                await self.ws.close(code=1008, message=b"Client too slow: message queue full")
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


class StreamHub:
    """Turns engine events into stream messages and fans them out to subscribers."""

    def __init__(
        self, specs: Mapping[str, SymbolSpec], clock_ns: Callable[[], int], queue_size: int
    ) -> None:
        self._specs = {s.lower(): spec for s, spec in specs.items()}
        self._clock_ns = clock_ns
        self.queue_size = queue_size
        self._subs: dict[str, set[Subscriber]] = {}

    # -- subscriptions -------------------------------------------------------------------

    def valid(self, name: str) -> bool:
        symbol, _, kind = name.partition("@")
        return symbol in self._specs and (kind in _DEPTH_KINDS or kind == "trade")

    def subscribe(self, sub: Subscriber, names: Iterable[str]) -> None:
        for name in names:
            sub.streams.add(name)
            self._subs.setdefault(name, set()).add(sub)

    def unsubscribe(self, sub: Subscriber, names: Iterable[str]) -> None:
        for name in names:
            sub.streams.discard(name)
            subs = self._subs.get(name)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[name]

    def drop(self, sub: Subscriber) -> None:
        self.unsubscribe(sub, list(sub.streams))

    def control(self, sub: Subscriber, text: str) -> str:
        """Answer a client's JSON request (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS)."""
        try:
            request = json.loads(text)
            method = request["method"]
            params = request.get("params", [])
            request_id = request.get("id")
        except (ValueError, KeyError, TypeError, AttributeError):
            return _dumps({"error": {"code": 3, "msg": "Invalid JSON: expected a request"}})
        if method == "LIST_SUBSCRIPTIONS":
            return _dumps({"result": sorted(sub.streams), "id": request_id})
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            return _dumps({"error": {"code": 2, "msg": "Invalid request"}, "id": request_id})
        names = [p for p in params if isinstance(p, str)]
        bad = [n for n in names if not self.valid(n)]
        if bad or len(names) != len(params):
            msg = f"Invalid request: unknown stream {bad[0] if bad else params}"
            return _dumps({"error": {"code": 2, "msg": msg}, "id": request_id})
        if method == "SUBSCRIBE":
            self.subscribe(sub, names)
        else:
            self.unsubscribe(sub, names)
        return _dumps({"result": None, "id": request_id})

    # -- publishing ----------------------------------------------------------------------

    def on_events(self, events: Sequence[Event]) -> None:
        """Engine listener: publish each event on the streams that carry it."""
        if not self._subs:
            return
        now_ms = self._clock_ns() // 1_000_000
        for event in events:
            symbol = event.symbol.lower()
            spec = self._specs[symbol]
            if isinstance(event, BookUpdate):
                names = [f"{symbol}@{kind}" for kind in _DEPTH_KINDS]
                if any(n in self._subs for n in names):
                    raw = _dumps(wire.depth_update(event, spec, now_ms))
                    for name in names:
                        self._publish(name, raw)
            elif isinstance(event, TradeEvent):
                name = f"{symbol}@trade"
                if name in self._subs:
                    self._publish(name, _dumps(wire.trade_message(event, spec, now_ms)))

    def _publish(self, name: str, raw: str) -> None:
        subs = self._subs.get(name)
        if not subs:
            return
        combined: str | None = None
        for sub in subs:
            if sub.combined:
                if combined is None:
                    combined = f'{{"stream":"{name}","data":{raw}}}'
                sub.offer(combined)
            else:
                sub.offer(raw)

    async def serve(
        self, request: web.Request, names: list[str], combined: bool
    ) -> web.StreamResponse:
        """Run one WebSocket connection subscribed to ``names`` until it closes."""
        ws = web.WebSocketResponse(heartbeat=20.0)
        sub = Subscriber(ws, combined, self.queue_size)
        # Subscribed before the handshake completes, so the client misses nothing that
        # happens after it sees the connection open.
        self.subscribe(sub, names)
        try:
            await ws.prepare(request)
        except BaseException:
            self.drop(sub)
            raise
        pump = asyncio.create_task(sub.pump())
        try:
            async for message in ws:
                if message.type == web.WSMsgType.TEXT:
                    sub.offer(self.control(sub, message.data))
                if pump.done():
                    break
        finally:
            self.drop(sub)
            pump.cancel()
            await asyncio.wait({pump})
            await ws.close()
        return ws
