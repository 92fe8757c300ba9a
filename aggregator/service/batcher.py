"""Group commit for Redis: commands from concurrent requests share one pipeline round trip.

A caller hands :meth:`RedisBatcher.submit` a function that queues its commands
on a pipeline and awaits its own results. Everything submitted while the
previous batch is in flight goes out together in the next one, so under load
one round trip serves many requests, and alone a request waits for exactly one
round trip, as it would without batching.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

__all__ = ["Queue", "RedisBatcher"]

Queue = Callable[[Pipeline], Awaitable[Any]]
"""Queues one caller's commands on a pipeline (``await pipe.set(...)`` and so on)."""


class _Item:
    __slots__ = ("future", "queue")

    def __init__(self, queue: Queue, future: asyncio.Future[list[Any]]) -> None:
        self.queue = queue
        self.future = future


class RedisBatcher:
    """See the module docstring; one per event loop."""

    def __init__(self, redis: Redis, max_batch: int = 512) -> None:
        self.redis = redis
        self.max_batch = max_batch
        self._items: list[_Item] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.commands = 0

    async def submit(self, queue: Queue) -> list[Any]:
        """Run ``queue``'s commands in the next batch; their results, in order.

        A command that failed raises its error here (for this caller only).
        """
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="redis-batcher")
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._items.append(_Item(queue, future))
        self._wake.set()
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for item in self._items:
            if not item.future.done():
                item.future.set_exception(RedisError("the batcher was closed"))
        self._items.clear()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._items:
                batch = self._items[: self.max_batch]
                del self._items[: self.max_batch]
                await self._flush(batch)

    async def _flush(self, batch: list[_Item]) -> None:
        spans: list[tuple[_Item, int, int]] = []
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for item in batch:
                    start = len(pipe.command_stack)
                    try:
                        await item.queue(pipe)
                    except Exception as exc:  # the caller's own queueing failed
                        del pipe.command_stack[start:]
                        item.future.set_exception(exc)
                        continue
                    spans.append((item, start, len(pipe.command_stack)))
                results = await pipe.execute(raise_on_error=False) if pipe.command_stack else []
        except asyncio.CancelledError:
            for item, _, _ in spans:
                if not item.future.done():
                    item.future.set_exception(RedisError("the batcher was closed"))
            raise
        except (RedisError, OSError) as exc:
            for item, _, _ in spans:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        self.batches += 1
        self.commands += len(results)
        for item, start, end in spans:
            if item.future.done():
                continue
            mine = results[start:end]
            error = next((r for r in mine if isinstance(r, Exception)), None)
            if error is not None:
                item.future.set_exception(error)
            else:
                item.future.set_result(mine)
