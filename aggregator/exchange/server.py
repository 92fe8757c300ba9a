"""The exchange's HTTP and WebSocket server, shaped like Binance Spot's public API.

REST (``/api/v3``): ``ping``, ``time``, ``exchangeInfo``, ``depth`` and the signed
``order`` (POST, DELETE, GET), ``openOrders`` (GET, DELETE) and ``account``. Streams:
``/ws/<name>[/<name>...]`` and ``/stream?streams=<a>/<b>`` on the same port (see
``streams.py``). Errors are ``{"code": <Binance code>, "msg": ...}`` with Binance's HTTP
status; every answer carries ``X-MBX-USED-WEIGHT-<window>`` and order answers
``X-MBX-ORDER-COUNT-<window>``. Binds to loopback only.

:func:`~aggregator.exchange.runner.start_venue` runs it (and the market maker) inside the
current event loop; ``python -m aggregator.exchange`` runs it as a process.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from aggregator.exchange import wire
from aggregator.exchange.errors import (
    BadParameterError,
    CancelRejectedError,
    ExchangeError,
    TooManyRequestsError,
)
from aggregator.exchange.orders import (
    OrderRequest,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from aggregator.exchange.params import Params
from aggregator.exchange.state import ACCOUNT, STATE, VenueState
from aggregator.exchange.units import format_decimal

__all__ = ["build_app"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_DEPTH_LIMIT = 5000


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
                "maker": format_decimal(Decimal(maker).scaleb(-4), 8),
                "taker": format_decimal(Decimal(taker).scaleb(-4), 8),
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
