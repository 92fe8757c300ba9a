"""The exchange's HTTP and WebSocket server, shaped like Binance Spot's public API.

REST (``/api/v3``): ``ping``, ``time``, ``exchangeInfo``, ``depth`` and the signed
``order`` (POST, DELETE, GET), ``openOrders`` (GET, DELETE) and ``account``. Streams:
``/ws/<name>[/<name>...]`` and ``/stream?streams=<a>/<b>`` on the same port (see
``streams.py``). Errors are ``{"code": <Binance code>, "msg": ...}`` with Binance's HTTP
status; every answer carries ``X-MBX-USED-WEIGHT-<window>`` and order answers
``X-MBX-ORDER-COUNT-<window>``. Binds to loopback only.

:func:`start_venue` runs the server (and the market maker) inside the current event loop
and returns a :class:`VenueRunner`; ``python -m aggregator.exchange`` runs it as a process.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from aggregator.errors import ConfigError
from aggregator.exchange import wire
from aggregator.exchange.auth import Authenticator, Credential
from aggregator.exchange.config import (
    AccountConfig,
    VenueConfig,
    balances_to_units,
)
from aggregator.exchange.engine import FeeSchedule, MatchingEngine
from aggregator.exchange.errors import (
    BadParameterError,
    CancelRejectedError,
    ExchangeError,
    InvalidSymbolError,
    TooManyRequestsError,
)
from aggregator.exchange.market_maker import MarketMaker
from aggregator.exchange.orders import (
    OrderRequest,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from aggregator.exchange.params import Params
from aggregator.exchange.ratelimit import ORDERS_MESSAGE, WEIGHT_MESSAGE, FixedWindowLimiter
from aggregator.exchange.streams import StreamHub
from aggregator.exchange.units import SymbolSpec

__all__ = ["STATE", "VenueRunner", "VenueState", "build_app", "build_state", "start_venue"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_DEPTH_LIMIT = 5000


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


# -- plumbing ---------------------------------------------------------------------------


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, separators=(",", ":")),
        status=status,
        content_type="application/json",
    )


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    headers: dict[str, str] = {}
    try:
        response = await handler(request)
    except ExchangeError as exc:
        if isinstance(exc, TooManyRequestsError):
            headers["Retry-After"] = str(exc.retry_after)
        response = _json({"code": exc.venue_code, "msg": exc.message}, status=exc.status)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        response = _json(
            {"code": -1000, "msg": "An unknown error occurred while processing the request."},
            status=500,
        )
    if not response.prepared:
        remote = request.remote or "-"
        now = state.now_s()
        response.headers[f"X-MBX-USED-WEIGHT-{state.weights.label}"] = str(
            state.weights.used(remote, now)
        )
        account = request.get(ACCOUNT)
        if account is not None and request.path == "/api/v3/order":
            response.headers[f"X-MBX-ORDER-COUNT-{state.orders.label}"] = str(
                state.orders.used(account, now)
            )
        response.headers.update(headers)
    return response


async def _params(request: web.Request) -> tuple[Params, str]:
    body = await request.text() if request.can_read_body else ""
    pairs = list(request.query.items())
    if body:
        pairs.extend(parse_qsl(body, keep_blank_values=True))
    return Params(pairs), body


def _charge(request: web.Request, weight: int) -> None:
    state = request.app[STATE]
    state.weights.hit(request.remote or "-", weight, state.now_s())


async def _public(request: web.Request, weight: int) -> Params:
    _charge(request, weight)
    params, _ = await _params(request)
    return params


async def _signed(
    request: web.Request, weight: Callable[[Params], int]
) -> tuple[VenueState, Params, str]:
    state = request.app[STATE]
    params, body = await _params(request)
    _charge(request, weight(params))
    account = state.auth.verify(
        request.headers.get("X-MBX-APIKEY"),
        request.rel_url.raw_query_string,
        body,
        params.as_dict(),
        state.now_ms(),
    )
    request[ACCOUNT] = account
    return state, params, account


def _one(weight: int) -> Callable[[Params], int]:
    return lambda _: weight


# -- public endpoints ---------------------------------------------------------------------


async def ping(request: web.Request) -> web.Response:
    await _public(request, 1)
    return _json({})


async def server_time(request: web.Request) -> web.Response:
    await _public(request, 1)
    return _json({"serverTime": request.app[STATE].now_ms()})


async def exchange_info(request: web.Request) -> web.Response:
    params = await _public(request, 20)
    state = request.app[STATE]
    names: list[str] | None = None
    if (one := params.optional("symbol")) is not None:
        names = [one]
    elif (many := params.optional("symbols")) is not None:
        try:
            names = [str(n) for n in json.loads(many)]
        except (ValueError, TypeError):
            raise BadParameterError(
                "Illegal characters found in parameter 'symbols'.", venue_code=-1100
            ) from None
    specs = list(state.specs.values()) if names is None else [state.spec(n) for n in names]
    limits = state.config.rate_limits
    return _json(
        {
            "timezone": "UTC",
            "serverTime": state.now_ms(),
            "rateLimits": [
                _rate_limit("REQUEST_WEIGHT", limits.request_window_s, limits.request_weight),
                _rate_limit("ORDERS", limits.orders_window_s, limits.orders),
            ],
            "exchangeFilters": [],
            "symbols": [wire.symbol_info(s) for s in specs],
        }
    )


def _rate_limit(kind: str, window_s: int, limit: int) -> dict[str, Any]:
    for interval, size in (("DAY", 86400), ("HOUR", 3600), ("MINUTE", 60)):
        if window_s % size == 0:
            return {
                "rateLimitType": kind,
                "interval": interval,
                "intervalNum": window_s // size,
                "limit": limit,
            }
    return {"rateLimitType": kind, "interval": "SECOND", "intervalNum": window_s, "limit": limit}


def _depth_weight(limit: int) -> int:
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


async def depth(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params, _ = await _params(request)
    limit = min(params.integer("limit") or 100, MAX_DEPTH_LIMIT)
    _charge(request, _depth_weight(limit))
    spec = state.spec(params.required("symbol"))
    return _json(wire.depth_snapshot(state.engine.depth(spec.symbol, limit), spec))


# -- signed endpoints --------------------------------------------------------------------


async def new_order(request: web.Request) -> web.Response:
    state, params, account = await _signed(request, _one(1))
    spec = state.spec(params.required("symbol"))
    side = params.required_enum("side", Side)
    order_type = params.required_enum("type", OrderType)
    tif = params.enum("timeInForce", TimeInForce)
    if order_type is OrderType.LIMIT:
        tif = params.required_enum("timeInForce", TimeInForce)
    else:
        params.forbid("timeInForce")
    if order_type is not OrderType.MARKET:
        params.forbid("quoteOrderQty")
    resp_type = params.optional("newOrderRespType") or "FULL"
    if resp_type not in ("ACK", "RESULT", "FULL"):
        raise BadParameterError("Invalid newOrderRespType.", venue_code=-1100)
    quantity = params.decimal("quantity")
    price = params.decimal("price")
    quote = params.decimal("quoteOrderQty")
    request_ = OrderRequest(
        account=account,
        symbol=spec.symbol,
        side=side,
        type=order_type,
        quantity=None if quantity is None else spec.qty_units(quantity),
        price=None if price is None else spec.price_ticks(price),
        time_in_force=tif or TimeInForce.GTC,
        quote_order_qty=None if quote is None else spec.quote_amount_units(quote),
        client_order_id=params.client_id("newClientOrderId"),
        stp=params.enum("selfTradePreventionMode", SelfTradePrevention),
    )
    state.orders.hit(account, 1, state.now_s())
    result = state.engine.place(request_, state.clock_ns())
    if resp_type == "ACK":
        return _json(wire.order_ack(result.order))
    if resp_type == "RESULT":
        return _json(wire.order_result(result.order, spec))
    return _json(wire.order_full(result.order, spec, result.fills, state.decimals))


async def cancel_order(request: web.Request) -> web.Response:
    state, params, account = await _signed(request, _one(1))
    spec = state.spec(params.required("symbol"))
    order = state.engine.cancel(
        account,
        spec.symbol,
        state.clock_ns(),
        order_id=params.integer("orderId"),
        client_order_id=params.optional("origClientOrderId"),
    )
    cancel_id = params.client_id("newClientOrderId") or f"cancel-{order.order_id}"
    return _json(wire.cancel_result(order, spec, cancel_id, state.now_ms()))


async def query_order(request: web.Request) -> web.Response:
    state, params, account = await _signed(request, _one(4))
    spec = state.spec(params.required("symbol"))
    order = state.engine.order(
        account,
        spec.symbol,
        order_id=params.integer("orderId"),
        client_order_id=params.optional("origClientOrderId"),
    )
    return _json(wire.order_query(order, spec))


async def open_orders(request: web.Request) -> web.Response:
    state, params, account = await _signed(request, lambda p: 6 if p.optional("symbol") else 80)
    symbol = params.optional("symbol")
    if symbol is not None:
        state.spec(symbol)
    orders = state.engine.open_orders(account, symbol)
    return _json([wire.order_query(o, state.specs[o.symbol]) for o in orders])


async def cancel_open_orders(request: web.Request) -> web.Response:
    state, params, account = await _signed(request, _one(1))
    spec = state.spec(params.required("symbol"))
    now = state.clock_ns()
    cancelled = state.engine.cancel_all(account, spec.symbol, now)
    if not cancelled:
        raise CancelRejectedError()
    return _json(
        [wire.cancel_result(o, spec, f"cancel-{o.order_id}", now // 1_000_000) for o in cancelled]
    )


async def account_info(request: web.Request) -> web.Response:
    state, params, account = await _signed(request, _one(20))
    omit = (params.optional("omitZeroBalances") or "false").lower() == "true"
    fees = state.config.fees
    maker, taker = fees.maker_bps, fees.taker_bps
    return _json(
        {
            "makerCommission": maker,
            "takerCommission": taker,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": f"{maker / 10_000:.8f}",
                "taker": f"{taker / 10_000:.8f}",
                "buyer": "0.00000000",
                "seller": "0.00000000",
            },
            "canTrade": True,
            "canWithdraw": False,
            "canDeposit": False,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": state.now_ms(),
            "accountType": "SPOT",
            "balances": wire.balances(state.engine.balances(account), state.decimals, omit),
            "permissions": ["SPOT"],
            "uid": zlib.crc32(account.encode()),
        }
    )


# -- streams -----------------------------------------------------------------------------


async def raw_streams(request: web.Request) -> web.StreamResponse:
    names = [n for n in request.match_info["streams"].split("/") if n]
    return await _serve_streams(request, names, combined=False)


async def combined_streams(request: web.Request) -> web.StreamResponse:
    names = [n for n in request.query.get("streams", "").split("/") if n]
    return await _serve_streams(request, names, combined=True)


async def _serve_streams(
    request: web.Request, names: list[str], combined: bool
) -> web.StreamResponse:
    hub = request.app[STATE].hub
    bad = [n for n in names if not hub.valid(n)]
    if bad or (combined and not names):
        raise web.HTTPBadRequest(text=f"invalid stream name(s): {', '.join(bad) or 'none'}")
    return await hub.serve(request, names, combined)


def build_app(state: VenueState) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[STATE] = state
    app.router.add_get("/api/v3/ping", ping)
    app.router.add_get("/api/v3/time", server_time)
    app.router.add_get("/api/v3/exchangeInfo", exchange_info)
    app.router.add_get("/api/v3/depth", depth)
    app.router.add_post("/api/v3/order", new_order)
    app.router.add_delete("/api/v3/order", cancel_order)
    app.router.add_get("/api/v3/order", query_order)
    app.router.add_get("/api/v3/openOrders", open_orders)
    app.router.add_delete("/api/v3/openOrders", cancel_open_orders)
    app.router.add_get("/api/v3/account", account_info)
    app.router.add_get("/ws/{streams:.+}", raw_streams)
    app.router.add_get("/stream", combined_streams)
    return app


# -- running -----------------------------------------------------------------------------


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
