"""Running the exchange inside an event loop: :func:`start_venue` and its runner."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence

from aiohttp import web

from aggregator.errors import ConfigError
from aggregator.exchange.config import AccountConfig, VenueConfig
from aggregator.exchange.engine import MatchingEngine
from aggregator.exchange.server import build_app
from aggregator.exchange.state import VenueState, build_state

__all__ = ["VenueRunner", "start_venue"]


class VenueRunner:
    """A running venue: its URLs, its engine, and :meth:`stop`."""

    def __init__(self, state: VenueState, runner: web.AppRunner, host: str, port: int) -> None:
        self.state = state
        self.host = host
        self.port = port
        self._runner = runner

    @property
    def engine(self) -> MatchingEngine:
        return self.state.engine

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def stop(self) -> None:
        if self.state.market_maker is not None:
            await self.state.market_maker.stop()
        await self._runner.cleanup()

    async def __aenter__(self) -> VenueRunner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(f"the venue binds to loopback only, not {host!r}")


async def start_venue(
    config: VenueConfig,
    accounts: Sequence[AccountConfig] = (),
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    market_maker: bool | None = None,
    clock_ns: Callable[[], int] = time.time_ns,
) -> VenueRunner:
    """Serve the venue in this event loop on ``host:port`` (0: a free port).

    ``market_maker`` overrides ``config.market_maker.enabled``.
    """
    _check_loopback(host)
    state = build_state(config, accounts, clock_ns)
    runner = web.AppRunner(build_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    enabled = config.market_maker.enabled if market_maker is None else market_maker
    if enabled and state.market_maker is not None:
        state.market_maker.start()
    return VenueRunner(state, runner, host, int(bound))
