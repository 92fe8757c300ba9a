"""Group commit for Redis: commands from concurrent requests share one pipeline round trip.

A caller hands :meth:`RedisBatcher.submit` a function that queues its commands
on a pipeline and awaits its own results. Everything submitted in one turn of
the event loop goes out together; batches go out on a few connections of the
batcher's own (``lanes``), and while every lane has a batch in flight what is
submitted waits and goes out together in the next one. So under load one
round trip serves many requests, and alone a request waits for exactly one
round trip, as it would without batching. A caller's commands stay in order;
two callers' batches may run in either order.

The pipeline only collects the commands: the batcher writes them itself, as one
packed write, and reads the replies in order. The
client's pipeline execution (taking a pooled connection under a lock, probing
it for stray data, retrying, recording pool metrics, handing it back) cost
several times more than the commands of a small batch. Nothing is retried
once a batch may have reached the server (a command such as XADD must not run
twice); a write that failed is retried once on a fresh connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import AbstractConnection
from redis.client import EMPTY_RESPONSE, NEVER_DECODE
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

__all__ = ["Queue", "RedisBatcher"]

Queue = Callable[[Pipeline], Awaitable[Any]]
"""Queues one caller's commands on a pipeline (``await pipe.set(...)`` and so on)."""


def _pack(
    connection: AbstractConnection, commands: Sequence[tuple[Any, Mapping[str, Any]]]
) -> list[bytes]:
    """The commands in the wire protocol, packed by hiredis when it gives the client's bytes.

    The asyncio client packs in Python (about 15 us for a quote's script with
    its stored JSON); hiredis packs the same bytes for str, bytes, int and
    float arguments in C. Anything else (or another text encoding) goes to
    the client's packer, which also raises its own errors.
    """
    encoder = connection.encoder
    if (encoder.encoding, encoder.encoding_errors) == ("utf-8", "strict"):
        chunks: list[bytes] = []
        try:
            for args, _ in commands:
                name = args[0]
                if isinstance(name, str) and " " in name:  # e.g. "CONFIG GET"
                    args = (*name.encode().split(), *args[1:])
                elif isinstance(name, bytes) and b" " in name:
                    args = (*name.split(), *args[1:])
                chunks.append(hiredis.pack_command(tuple(args)))
        except TypeError:
            pass
        else:
            return [b"".join(chunks)]
    return connection.pack_commands([args for args, _ in commands])


class _Lane:
    """A connection of the batcher's own, and the batch in flight on it."""

    __slots__ = ("batch", "connection", "task")

    def __init__(self) -> None:
        self.connection: AbstractConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.batch: list[_Item] = []


class _Item:
    __slots__ = ("future", "queue")

    def __init__(self, queue: Queue, future: asyncio.Future[list[Any]]) -> None:
        self.queue = queue
        self.future = future


class RedisBatcher:
    """See the module docstring; one per event loop."""

    def __init__(self, redis: Redis, max_batch: int = 512, lanes: int = 2) -> None:
        self.redis = redis
        self.max_batch = max_batch
        self._items: list[_Item] = []
        self._wake = asyncio.Event()
        self._lane_free = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lanes = [_Lane() for _ in range(max(1, lanes))]
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
        tasks = [self._task] + [lane.task for lane in self._lanes]
        self._task = None
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for lane in self._lanes:
            await self._disconnect(lane)
            self._items.extend(lane.batch)  # a batch cancelled before it started
            lane.batch = []
        for item in self._items:
            if not item.future.done():
                item.future.set_exception(RedisError("the batcher was closed"))
        self._items.clear()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._items:
                lane = next((lane for lane in self._lanes if lane.task is None), None)
                if lane is None:  # every lane has a batch in flight: wait for one
                    self._lane_free.clear()
                    await self._lane_free.wait()
                    continue
                batch = self._items[: self.max_batch]
                del self._items[: self.max_batch]
                lane.batch = batch
                lane.task = asyncio.create_task(self._flush(batch, lane), name="redis-batch")

    async def _flush(self, batch: list[_Item], lane: _Lane) -> None:
        try:
            await self._flush_on(batch, lane)
        finally:
            lane.task = None
            lane.batch = []
            self._lane_free.set()

    async def _flush_on(self, batch: list[_Item], lane: _Lane) -> None:
        pipe = self.redis.pipeline(transaction=False)  # collects commands, never executed
        spans: list[tuple[_Item, int, int]] = []
        for item in batch:
            start = len(pipe.command_stack)
            try:
                await item.queue(pipe)
            except Exception as exc:  # the caller's own queueing failed
                del pipe.command_stack[start:]
                item.future.set_exception(exc)
                continue
            spans.append((item, start, len(pipe.command_stack)))
        commands = pipe.command_stack
        try:
            results = await self._execute(lane, commands) if commands else []
        except asyncio.CancelledError:
            await self._disconnect(lane)  # replies may be left unread on it
            for item, _, _ in spans:
                if not item.future.done():
                    item.future.set_exception(RedisError("the batcher was closed"))
            raise
        except (RedisError, OSError) as exc:
            await self._disconnect(lane)
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

    async def _execute(
        self, lane: _Lane, commands: Sequence[tuple[Any, Mapping[str, Any]]]
    ) -> list[Any]:
        """Write every command at once, then read and parse each reply in order."""
        connection = await self._send(lane, commands)
        # one time limit for all the replies, not one per reply
        async with asyncio.timeout(connection.socket_timeout):
            return await self._read(connection, commands)

    async def _read(
        self, connection: AbstractConnection, commands: Sequence[tuple[Any, Mapping[str, Any]]]
    ) -> list[Any]:
        callbacks = self.redis.response_callbacks
        results: list[Any] = []
        for args, options in commands:
            try:
                response = await connection.read_response(
                    disable_decoding=NEVER_DECODE in options, timeout=math.inf
                )
            except ResponseError as exc:
                results.append(options[EMPTY_RESPONSE] if EMPTY_RESPONSE in options else exc)
                continue
            callback = callbacks.get(args[0])
            if callback is not None:
                kwargs = {
                    k: v
                    for k, v in options.items()
                    if k not in (NEVER_DECODE, EMPTY_RESPONSE, "keys")
                }
                response = callback(response, **kwargs)
                if inspect.isawaitable(response):
                    response = await response
            results.append(response)
        return results

    async def _send(
        self, lane: _Lane, commands: Sequence[tuple[Any, Mapping[str, Any]]]
    ) -> AbstractConnection:
        packed: list[bytes] | None = None
        for attempt in (1, 2):
            connection = lane.connection
            if connection is None:
                pool = self.redis.connection_pool
                connection = lane.connection = pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                await connection.connect()
                if packed is None:
                    packed = _pack(connection, commands)
                await connection.send_packed_command(packed, check_health=False)
                return connection
            except (RedisConnectionError, OSError):
                # nothing was read: the write is retried once, on a new connection
                await self._disconnect(lane)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    async def _disconnect(lane: _Lane) -> None:
        connection, lane.connection = lane.connection, None
        if connection is not None:
            with contextlib.suppress(RedisError, OSError):
                await connection.disconnect(nowait=True)
