"""The venue's combined WebSocket stream over ``aiohttp``, reconnecting with backoff.

The stream hands every text frame, with its receive time, to ``on_message``; it tells
the owner when a connection opens (``on_open``: time to fetch snapshots) and when it is
lost (``on_close``: the books can no longer be trusted). After a loss it reconnects,
waiting ``initial_backoff`` and doubling up to ``max_backoff`` (with jitter) while
attempts keep failing.

:meth:`DepthStream.drop_next` is a fault-injection hook: the next ``n`` frames are read
and discarded as if the network had lost them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

import aiohttp

__all__ = ["DepthStream"]

log = logging.getLogger(__name__)

OnMessage = Callable[[str, int], None]


class DepthStream:
    """One combined-stream connection kept open until :meth:`close`."""

    def __init__(
        self,
        url: str,
        *,
        on_message: OnMessage,
        on_open: Callable[[], None],
        on_close: Callable[[str], None],
        initial_backoff: float = 0.05,
        max_backoff: float = 5.0,
    ) -> None:
        self.url = url
        self._on_message = on_message
        self._on_open = on_open
        self._on_close = on_close
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._drop = 0
        self._local_close: str | None = None
        self.connected = False
        self.connects = 0
        """Connections opened so far."""
        self.dropped = 0
        """Frames discarded by :meth:`drop_next`."""
        self.messages = 0
        """Frames handed to ``on_message``."""
        self.last_error: str | None = None

    def start(self) -> None:
        if self._task is None:
            self._session = aiohttp.ClientSession()
            self._task = asyncio.create_task(self._run(), name=f"depth-stream {self.url}")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.connected = False

    def drop_next(self, count: int) -> None:
        """Discard the next ``count`` frames (fault injection)."""
        self._drop += count

    async def disconnect(self) -> None:
        """Close the current connection as if the network dropped it (it reconnects)."""
        ws = self._ws
        if ws is not None:
            self._local_close = "closed by the connector"
            await ws.close()

    async def _run(self) -> None:
        assert self._session is not None
        backoff = self._initial_backoff
        while True:
            reason = "closed by the venue"
            opened = False
            try:
                async with self._session.ws_connect(self.url, heartbeat=30.0, max_msg_size=0) as ws:
                    self._ws = ws
                    self.connected = opened = True
                    self.connects += 1
                    self._on_open()
                    await self._read(ws)
                    if self._local_close is not None:
                        reason, self._local_close = self._local_close, None
                    elif ws.close_code is not None:
                        reason = f"closed by the venue (code {ws.close_code})"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            finally:
                self._ws = None
                self.connected = False
            self.last_error = reason
            self._on_close(reason)
            if opened:
                backoff = self._initial_backoff
            await asyncio.sleep(backoff * (0.5 + random.random() / 2))
            backoff = min(backoff * 2, self._max_backoff)

    def _deliver(self, text: str, ts_recv: int) -> None:
        self.messages += 1
        try:
            self._on_message(text, ts_recv)
        except Exception:
            # The owner handles what it expects; anything else must not end the stream.
            log.exception("depth stream %s: message handler failed", self.url)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        clock = time.time_ns
        while True:
            msg = await ws.receive()
            kind = msg.type
            if kind is aiohttp.WSMsgType.TEXT:
                if self._drop:
                    self._drop -= 1
                    self.dropped += 1
                    continue
                self._deliver(msg.data, clock())
            elif kind is aiohttp.WSMsgType.BINARY:
                if self._drop:
                    self._drop -= 1
                    self.dropped += 1
                    continue
                self._deliver(msg.data.decode("utf-8", "replace"), clock())
            elif kind in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                return
