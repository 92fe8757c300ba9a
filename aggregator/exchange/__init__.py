"""The devnet's off-chain exchange: a price-time-priority matching engine behind a
server that speaks Binance Spot's REST and WebSocket API, with a market maker.

Run it as a process (this command line is stable)::

    python -m aggregator.exchange --host 127.0.0.1 --port PORT \\
        --config config/venue.toml --accounts ACCOUNTS.json [--no-market-maker]

It prints one JSON line ``{"rest_url": ..., "ws_url": ..., "pid": ...}`` once listening
and runs until SIGTERM or SIGINT. ``ACCOUNTS.json`` is a list of
``{"name", "api_key", "api_secret", "balances": {"USDC": "1000000", ...}}`` (human units).
REST is under ``<rest_url>/api/v3/...``; streams at ``<ws_url>/ws/<symbol>@depth``,
``<ws_url>/ws/<symbol>@trade`` and ``<ws_url>/stream?streams=a/b``.

In-process: ``runner = await start_venue(load_venue_config(path), accounts, port=0)``,
then ``runner.rest_url``, ``runner.ws_url``, ``runner.engine`` and ``await runner.stop()``.

Parts: ``engine`` (with ``book``, ``matching``, ``validation``, ``ledger``, ``orders``,
``units``) is pure and synchronous; ``server`` (with ``state``, ``auth``, ``params``,
``ratelimit``, ``streams``, ``wire``) is the aiohttp edge and ``runner`` runs it;
``market_maker`` keeps the books moving; ``config`` reads config/venue.toml and the
accounts file.
"""

from aggregator.exchange.auth import sign
from aggregator.exchange.config import (
    AccountConfig,
    VenueConfig,
    load_accounts,
    load_venue_config,
)
from aggregator.exchange.engine import DepthSnapshot, FeeSchedule, MatchingEngine, PlaceResult
from aggregator.exchange.market_maker import MarketMaker
from aggregator.exchange.orders import (
    BookUpdate,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderView,
    SelfTradePrevention,
    Side,
    TimeInForce,
    TradeEvent,
)
from aggregator.exchange.runner import VenueRunner, start_venue
from aggregator.exchange.units import SymbolSpec

__all__ = [
    "AccountConfig",
    "BookUpdate",
    "DepthSnapshot",
    "FeeSchedule",
    "Fill",
    "MarketMaker",
    "MatchingEngine",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "OrderView",
    "PlaceResult",
    "SelfTradePrevention",
    "Side",
    "SymbolSpec",
    "TimeInForce",
    "TradeEvent",
    "VenueConfig",
    "VenueRunner",
    "load_accounts",
    "load_venue_config",
    "sign",
    "start_venue",
]
