"""What the exchange server's handlers share: the engine, accounts, limits and streams.

:func:`build_state` turns a :class:`~aggregator.exchange.config.VenueConfig` and the
accounts file into an engine with funded accounts (the market maker's included), the
authenticator, the rate limiters and the stream hub, wired to the engine's events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from aggregator.exchange.auth import Authenticator, Credential
from aggregator.exchange.config import AccountConfig, VenueConfig, balances_to_units
from aggregator.exchange.engine import FeeSchedule, MatchingEngine
from aggregator.exchange.errors import InvalidSymbolError
from aggregator.exchange.market_maker import MarketMaker
from aggregator.exchange.ratelimit import ORDERS_MESSAGE, WEIGHT_MESSAGE, FixedWindowLimiter
from aggregator.exchange.streams import StreamHub
from aggregator.exchange.units import SymbolSpec

__all__ = ["ACCOUNT", "STATE", "VenueState", "build_state"]


@dataclass
class VenueState:
    """Everything a request handler needs (typed app state)."""

    config: VenueConfig
    engine: MatchingEngine
    specs: dict[str, SymbolSpec]
    decimals: dict[str, int]
    auth: Authenticator
    weights: FixedWindowLimiter
    orders: FixedWindowLimiter
    hub: StreamHub
    clock_ns: Callable[[], int]
    market_maker: MarketMaker | None

    def now_ms(self) -> int:
        return self.clock_ns() // 1_000_000

    def now_s(self) -> float:
        return self.clock_ns() / 1e9

    def spec(self, symbol: str) -> SymbolSpec:
        spec = self.specs.get(symbol)
        if spec is None:
            raise InvalidSymbolError()
        return spec


STATE = web.AppKey("venue_state", VenueState)
ACCOUNT = web.RequestKey("venue_account", str)


def build_state(
    config: VenueConfig,
    accounts: Sequence[AccountConfig],
    clock_ns: Callable[[], int] = time.time_ns,
) -> VenueState:
    """An engine with the accounts and market maker of ``config``, ready to serve."""
    specs = {s.symbol: s for s in config.specs()}
    engine = MatchingEngine(
        specs.values(),
        fees=FeeSchedule(config.fees.maker_bps, config.fees.taker_bps),
        fee_account=config.fees.account,
        history_per_account=config.order_history_per_account,
    )
    for account in accounts:
        engine.open_account(account.name, balances_to_units(account.balances, config.assets))
    mm_config = config.market_maker
    engine.open_account(mm_config.account, balances_to_units(mm_config.balances, config.assets))
    limits = config.rate_limits
    state = VenueState(
        config=config,
        engine=engine,
        specs=specs,
        decimals=dict(config.assets),
        auth=Authenticator(
            (
                Credential(a.name, a.api_key, a.api_secret.get_secret_value().encode())
                for a in accounts
            ),
            config.max_recv_window_ms,
        ),
        weights=FixedWindowLimiter(
            limits.request_weight,
            limits.request_window_s,
            message=WEIGHT_MESSAGE,
            venue_code=-1003,
        ),
        orders=FixedWindowLimiter(
            limits.orders, limits.orders_window_s, message=ORDERS_MESSAGE, venue_code=-1015
        ),
        hub=StreamHub(specs, clock_ns, config.ws_queue_size),
        clock_ns=clock_ns,
        market_maker=MarketMaker(engine, mm_config, clock_ns) if mm_config.markets else None,
    )
    engine.subscribe(state.hub.on_events)
    return state
