"""The service on the session devnet, running in a thread of its own, one per test module.

The service (market data in process and one API worker) runs its own event
loop in a background thread, so tests can use plain synchronous HTTP clients
(and schemathesis) against it. Its Redis is a database of the session's
``redis-server`` of its own, flushed when the service starts.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from aggregator.api.server import Running, serve_in_process
from aggregator.devnet.manifest import DevnetManifest
from aggregator.settings import Settings, load_settings
from tests.fixtures.processes import RedisServer

T = TypeVar("T")

API_KEY = "test-api-key-0123456789"
REDIS_DB = 7


class ServiceThread:
    """``serve_in_process`` in a thread: ``start()``, ``url``, ``run(coro)``, ``stop()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: Running | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="api-service", daemon=True)

    @property
    def url(self) -> str:
        assert self.running is not None
        return self.running.url

    def _main(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with serve_in_process(self.settings, coordinator=False) as running:
                self.running = running
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(serve())
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    def start(self, timeout_s: float = 90.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError("the service did not start in time")
        if self._error is not None:
            raise RuntimeError("the service failed to start") from self._error

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        """Run a coroutine on the service's loop (to reach its objects)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


def api_settings(devnet_dir: Path, redis_url: str, **sections: Any) -> Settings:
    base: dict[str, Any] = {
        "api": {
            "port": 0,
            "api_keys": [API_KEY],
            "quote_rate": {"rate_per_s": 100_000, "burst": 100_000},
            "swap_rate_per_key": {"rate_per_s": 100_000, "burst": 100_000},
            "swap_rate_per_address": {"rate_per_s": 0.2, "burst": 3},
        },
        "redis": {"url": redis_url},
        "devnet": {"state_dir": str(devnet_dir)},
        "router": {"quote_ttl_s": 120},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return load_settings(env={}, **base)


@pytest.fixture(scope="module")
def service(
    devnet: DevnetManifest, devnet_state_dir: Path, redis_server: RedisServer
) -> Iterator[ServiceThread]:
    url = f"redis://127.0.0.1:{redis_server.port}/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    thread = ServiceThread(api_settings(devnet_state_dir, url))
    thread.start()
    yield thread
    thread.stop()


@pytest.fixture
def manifest(devnet: DevnetManifest) -> DevnetManifest:
    return devnet
