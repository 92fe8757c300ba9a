"""The Redis batcher: concurrent callers share a round trip, each gets its own replies
(parsed as the client parses them), one caller's failed command fails only that caller,
and a lost connection is replaced."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvloop
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aggregator.service.batcher import RedisBatcher, _pack


@contextlib.asynccontextmanager
async def opened(redis_url: str, **options: Any) -> AsyncIterator[tuple[Redis, RedisBatcher]]:
    """A client and a batcher on it, both closed on exit."""
    redis = Redis.from_url(redis_url, **options)
    batcher = RedisBatcher(redis)
    try:
        yield redis, batcher
    finally:
        await batcher.close()
        await redis.aclose()


async def _set_then_get(batcher: RedisBatcher, key: str, value: str) -> list[Any]:
    async def queue(pipe: Pipeline) -> Any:
        await pipe.set(key, value, px=60_000)
        await pipe.get(key)

    return await batcher.submit(queue)


async def test_concurrent_callers_share_round_trips_and_get_their_own_replies(
    redis_url: str,
) -> None:
    async with opened(redis_url) as (redis, batcher):
        results = await asyncio.gather(
            *(_set_then_get(batcher, f"t:batch:{i}", f"v{i}") for i in range(40))
        )
        assert results == [[True, f"v{i}".encode()] for i in range(40)]
        assert batcher.commands == 80
        assert batcher.batches < 40  # callers waiting together went out together
        assert await redis.get("t:batch:7") == b"v7"


async def test_a_failed_command_fails_only_its_caller(redis_url: str) -> None:
    async with opened(redis_url) as (redis, batcher):
        await redis.set("t:batch:text", "not a number")

        async def bad(pipe: Pipeline) -> Any:
            await pipe.incr("t:batch:text")

        async def good(pipe: Pipeline) -> Any:
            await pipe.incr("t:batch:counter")

        async def broken_queueing(pipe: Pipeline) -> Any:
            raise ValueError("cannot queue")

        results = await asyncio.gather(
            batcher.submit(good),
            batcher.submit(bad),
            batcher.submit(broken_queueing),
            batcher.submit(good),
            return_exceptions=True,
        )
        assert results[0] == [1] and results[3] == [2]
        assert isinstance(results[1], ResponseError)
        assert isinstance(results[2], ValueError)


async def test_a_killed_connection_is_replaced(redis_url: str) -> None:
    async with opened(redis_url) as (redis, batcher):

        async def client_id(pipe: Pipeline) -> Any:
            await pipe.client_id()

        [first] = await batcher.submit(client_id)
        await redis.client_kill_filter(_id=first)
        answered = None
        for _ in range(3):  # the write to a closed socket may still be accepted once
            try:
                [answered] = await batcher.submit(client_id)
                break
            except (RedisConnectionError, OSError):
                pass  # the caller whose replies were lost with the connection sees it
        assert answered is not None and answered != first


async def test_close_fails_waiting_callers_instead_of_hanging(redis_url: str) -> None:
    async with opened(redis_url) as (_redis, batcher):

        async def slow(pipe: Pipeline) -> Any:
            await pipe.blpop(["t:batch:never"], timeout=2)

        waiting = asyncio.ensure_future(batcher.submit(slow))
        await asyncio.sleep(0.05)
        await batcher.close()
        with pytest.raises(Exception, match="closed"):
            await waiting


def test_commands_are_packed_as_the_client_packs_them() -> None:
    connection = Redis().connection_pool.make_connection()  # type: ignore[no-untyped-call]
    commands: list[tuple[Any, dict[str, Any]]] = [
        (("SET", "k", "é" * 3, "PX", 60_000), {}),
        (("EVALSHA", "ab" * 20, 1, "key", 0.1 + 0.2, 10**30, b"\x00raw"), {}),
        (("CONFIG GET", "maxmemory"), {}),
        (("XADD", "s", "MAXLEN", "~", 100, "*", "event", "x" * 10_000), {}),
    ]
    packed = _pack(connection, commands)
    assert b"".join(packed) == b"".join(connection.pack_commands([a for a, _ in commands]))


async def test_an_argument_the_client_refuses_fails_its_caller(redis_url: str) -> None:
    async with opened(redis_url) as (redis, batcher):

        async def boolean(pipe: Pipeline) -> Any:
            await pipe.execute_command("SET", "t:batch:bool", True)

        with pytest.raises(DataError):
            await batcher.submit(boolean)
        assert await redis.exists("t:batch:bool") == 0
        assert await _set_then_get(batcher, "t:batch:after", "ok") == [True, b"ok"]


def test_the_batcher_runs_on_uvloop_as_api_workers_do(redis_url: str) -> None:
    async def run() -> tuple[list[list[Any]], Any]:
        async with opened(redis_url) as (_redis, batcher):
            together = await asyncio.gather(
                *(_set_then_get(batcher, f"t:batch:uv:{i}", f"u{i}") for i in range(20))
            )
            return together, await batcher.execute("GET", "t:batch:uv:3")

    together, alone = uvloop.run(asyncio.wait_for(run(), 10))
    assert together == [[True, f"u{i}".encode()] for i in range(20)]
    assert alone == b"u3"


async def test_replies_later_than_the_socket_timeout_fail_and_a_new_connection_serves(
    redis_url: str,
) -> None:
    async with opened(redis_url, socket_timeout=0.2) as (_redis, batcher):

        async def blocked(pipe: Pipeline) -> Any:
            await pipe.blpop(["t:batch:nothing"], timeout=3)

        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(batcher.submit(blocked), 2)
        assert await _set_then_get(batcher, "t:batch:after-timeout", "ok") == [True, b"ok"]


async def test_errors_are_the_clients_exception_classes(redis_url: str) -> None:
    async with opened(redis_url) as (_redis, batcher):
        with pytest.raises(NoScriptError):
            await batcher.execute("EVALSHA", "0" * 40, 0)
        assert await batcher.execute("EVAL", "return {1, 'two'}", 0) == [1, b"two"]
