"""Serving: API workers on one port, and the market-data process that feeds them.

``aggregator serve --workers N`` runs :class:`~aggregator.service.MarketDataService`
(connectors, book cache, coordinator, shipper) in the parent process and
starts N worker processes (``python -m aggregator.api.worker``), each binding
the same address with ``SO_REUSEPORT`` so the kernel spreads connections over
them. Workers receive the parent's settings through the environment and die
with it. :func:`serve_in_process` runs both halves in one event loop instead
(the demo, tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from redis.asyncio import Redis

from aggregator.api.app import create_app
from aggregator.api.context import ApiContext
from aggregator.errors import ConfigError
from aggregator.service.compose import Foundation, load_foundation
from aggregator.service.marketdata import MarketDataService
from aggregator.settings import Settings

__all__ = [
    "SETTINGS_ENV",
    "Running",
    "free_port",
    "run_worker",
    "serve_forever",
    "serve_in_process",
    "settings_from_env",
    "settings_to_env",
]

SETTINGS_ENV: Final = "AGGREGATOR_WORKER_SETTINGS"
_PR_SET_PDEATHSIG: Final = 1

Progress = Callable[[str], None]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


def settings_to_env(settings: Settings) -> str:
    """The settings as JSON with secrets revealed (for a child's environment only)."""
    return json.dumps(_plain(settings.model_dump(mode="python")), default=str)


def settings_from_env() -> Settings:
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise ConfigError(f"a worker reads its settings from ${SETTINGS_ENV}")
    return Settings.model_validate_json(raw)


async def _site(app: web.Application, host: str, port: int, reuse_port: bool) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port, backlog=1024)
    await site.start()
    return runner


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """One API worker: its context, its app on the shared port, until ``stop``."""
    foundation = load_foundation(settings)
    context = ApiContext.create(foundation)
    await context.start()
    app = create_app(context, manage_context=False)
    # What start-up made (modules, settings, the app, the first snapshot) lives as long
    # as the worker: keep it out of the collector's sight, or each full collection
    # walks all of it (about 0.1 s with the event loop stopped).
    gc.collect()
    gc.freeze()
    runner = await _site(app, settings.api.host, settings.api.port, reuse_port=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await context.close()


@dataclass
class Running:
    """What :func:`serve_in_process` started."""

    url: str
    foundation: Foundation
    market_data: MarketDataService
    context: ApiContext


@contextlib.asynccontextmanager
async def serve_in_process(
    settings: Settings, *, progress: Progress | None = None, coordinator: bool = True
) -> AsyncIterator[Running]:
    """Market data and one API worker in this event loop; torn down on exit."""
    foundation = load_foundation(settings)
    port = settings.api.port or free_port(settings.api.host)
    redis = Redis.from_url(settings.redis.url.get_secret_value())
    market_data = MarketDataService(foundation, redis, coordinator=coordinator, progress=progress)
    try:
        await market_data.start()
        context = ApiContext.create(foundation)
        await context.start()
        try:
            app = create_app(context, manage_context=False)
            runner = await _site(app, settings.api.host, port, reuse_port=False)
            try:
                yield Running(
                    f"http://{settings.api.host}:{port}", foundation, market_data, context
                )
            finally:
                await runner.cleanup()
        finally:
            await context.close()
    finally:
        await market_data.stop()
        await redis.aclose()


def _die_with_parent() -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return preexec


def _spawn_workers(settings: Settings, count: int) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ)
    env[SETTINGS_ENV] = settings_to_env(settings)
    return [
        subprocess.Popen(
            [sys.executable, "-m", "aggregator.api.worker"],
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent(),
        )
        for _ in range(count)
    ]


async def _wait_ready(url: str, procs: list[subprocess.Popen[bytes]], limit_s: float) -> None:
    """Until every worker answers (``SO_REUSEPORT`` spreads the probes) or one exits."""
    deadline = time.monotonic() + limit_s
    async with aiohttp.ClientSession() as session:
        while True:
            dead = [p.pid for p in procs if p.poll() is not None]
            if dead:
                raise ConfigError(f"API worker(s) {dead} exited at start")
            try:
                async with session.get(f"{url}/v1/ping") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise ConfigError(f"the API did not answer at {url} within {limit_s:g} s")
            await asyncio.sleep(0.1)


async def serve_forever(settings: Settings, *, progress: Progress | None = None) -> int:
    """``aggregator serve``: market data here, N workers as processes, until a signal."""
    say = progress or (lambda message: print(message, flush=True))
    port = settings.api.port or free_port(settings.api.host)
    settings = settings.with_overrides(api={"port": port})
    foundation = load_foundation(settings)
    redis = Redis.from_url(settings.redis.url.get_secret_value())
    market_data = MarketDataService(foundation, redis, progress=say)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await market_data.start()
        procs = _spawn_workers(settings, settings.api.workers)
        url = f"http://{settings.api.host}:{port}"
        await _wait_ready(url, procs, 60.0)
        say(f"serving {url} with {len(procs)} worker(s); docs at {url}/docs")
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            exited = [p.pid for p in procs if p.poll() is not None]
            if exited:
                say(f"worker(s) {exited} exited; stopping")
                return 1
        return 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        await market_data.stop()
        await redis.aclose()
