"""The exchange server over the wire: Binance Spot's REST shapes, signatures, error codes,
rate limits, and WebSocket depth diffs that stay consistent with REST snapshots.

Most tests use the ``venue_server`` subprocess (market maker running); the rate-limit
test runs its own in-process venue with tiny limits and a fixed clock.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from aggregator.exchange import AccountConfig, load_venue_config, sign, start_venue
from aggregator.exchange.config import RateLimitConfig
from aggregator.exchange.orders import OrderRequest, OrderType, Side
from tests.exchange.client import Reply, RestClient
from tests.exchange.specs import CONFIG_PATH
from tests.fixtures.venue import VenueServer

pytestmark = pytest.mark.timeout(60)

SYMBOL = "WETHUSDC"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def client(venue_server: VenueServer, session: aiohttp.ClientSession) -> RestClient:
    # alice: an account no other test area trades with, so balance checks see only ours
    alice = venue_server.accounts["alice"]
    return RestClient(session, venue_server.rest_url, alice.api_key, alice.api_secret)


def assert_error(reply: Reply, status: int, code: int) -> None:
    assert reply.status == status, reply
    assert set(reply.body) == {"code", "msg"} and reply.body["code"] == code, reply.body


async def balances(client: RestClient) -> dict[str, tuple[Decimal, Decimal]]:
    reply = await client.signed("GET", "/api/v3/account")
    assert reply.status == 200, reply.body
    return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in reply.body["balances"]}


# -- public endpoints ----------------------------------------------------------------------


async def test_public_endpoints_answer_in_binance_shapes(client: RestClient) -> None:
    ping = await client.public("/api/v3/ping")
    assert (ping.status, ping.body) == (200, {})
    assert ping.headers["X-MBX-USED-WEIGHT-1M"].isdigit()
    clock = await client.public("/api/v3/time")
    assert isinstance(clock.body["serverTime"], int)

    info = (await client.public("/api/v3/exchangeInfo")).body
    assert {r["rateLimitType"] for r in info["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == {"WETHUSDC", "WBTCUSDC", "WBTCWETH"}
    weth = symbols[SYMBOL]
    assert (weth["status"], weth["baseAsset"], weth["quoteAsset"]) == ("TRADING", "WETH", "USDC")
    filters = {f["filterType"]: f for f in weth["filters"]}
    assert Decimal(filters["PRICE_FILTER"]["tickSize"]) == Decimal("0.01")
    assert Decimal(filters["LOT_SIZE"]["stepSize"]) == Decimal("0.0001")
    assert Decimal(filters["LOT_SIZE"]["minQty"]) == Decimal("0.0001")
    assert Decimal(filters["NOTIONAL"]["minNotional"]) == Decimal("1")
    one = (await client.public("/api/v3/exchangeInfo", symbol="WBTCWETH")).body
    assert [s["symbol"] for s in one["symbols"]] == ["WBTCWETH"]

    depth = await client.public("/api/v3/depth", symbol=SYMBOL, limit=10)
    assert depth.status == 200 and isinstance(depth.body["lastUpdateId"], int)
    bids = [(Decimal(p), Decimal(q)) for p, q in depth.body["bids"]]
    asks = [(Decimal(p), Decimal(q)) for p, q in depth.body["asks"]]
    assert 0 < len(bids) <= 10 and 0 < len(asks) <= 10
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert bids[0][0] < asks[0][0], "the book is crossed"
    for p, q in bids + asks:
        assert p % Decimal("0.01") == 0 and q % Decimal("0.0001") == 0 and q > 0
    assert Decimal(2000) < bids[0][0] < Decimal(4000)


async def test_public_errors_carry_binance_codes(client: RestClient) -> None:
    assert_error(await client.public("/api/v3/depth", symbol="DOGEUSDC"), 400, -1121)
    assert_error(await client.public("/api/v3/depth"), 400, -1102)
    assert_error(await client.public("/api/v3/depth", symbol=SYMBOL, limit="x"), 400, -1100)
    assert_error(await client.public("/api/v3/exchangeInfo", symbol="NOPE"), 400, -1121)


# -- signed endpoints ----------------------------------------------------------------------


async def test_a_resting_order_locks_funds_until_it_is_cancelled(client: RestClient) -> None:
    before = await balances(client)
    params = {
        "symbol": SYMBOL,
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.5",
        "price": "1000.00",
        "newClientOrderId": "rest-test-1",
    }
    placed = await client.signed("POST", "/api/v3/order", params)
    assert placed.status == 200, placed.body
    order = placed.body
    assert order["status"] == "NEW" and order["fills"] == [] and order["orderListId"] == -1
    assert order["clientOrderId"] == "rest-test-1" and order["side"] == "BUY"
    assert Decimal(order["price"]) == 1000 and Decimal(order["origQty"]) == Decimal("0.5")
    assert placed.headers["X-MBX-ORDER-COUNT-10S"].isdigit()
    after = await balances(client)
    assert after["USDC"] == (before["USDC"][0] - 500, before["USDC"][1] + 500)

    query = await client.signed(
        "GET", "/api/v3/order", {"symbol": SYMBOL, "orderId": order["orderId"]}
    )
    assert query.body["status"] == "NEW" and query.body["isWorking"] is True
    opens = await client.signed("GET", "/api/v3/openOrders", {"symbol": SYMBOL})
    assert [o["orderId"] for o in opens.body] == [order["orderId"]]

    cancel = await client.signed(
        "DELETE", "/api/v3/order", {"symbol": SYMBOL, "origClientOrderId": "rest-test-1"}
    )
    assert cancel.status == 200, cancel.body
    assert cancel.body["status"] == "CANCELED"
    assert cancel.body["origClientOrderId"] == "rest-test-1"
    assert await balances(client) == before
    again = await client.signed(
        "DELETE", "/api/v3/order", {"symbol": SYMBOL, "orderId": order["orderId"]}
    )
    assert_error(again, 400, -2011)
    gone = await client.signed("GET", "/api/v3/order", {"symbol": SYMBOL, "orderId": 10**12})
    assert_error(gone, 400, -2013)


async def test_a_market_order_reports_its_fills_and_settles_them_exactly(
    client: RestClient,
) -> None:
    before = await balances(client)
    params = {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.2500"}
    reply = await client.signed("POST", "/api/v3/order", params, in_body=True)
    assert reply.status == 200, reply.body
    order = reply.body
    assert order["status"] == "FILLED" and order["fills"]
    qty = sum(Decimal(f["qty"]) for f in order["fills"])
    quote = sum(Decimal(f["price"]) * Decimal(f["qty"]) for f in order["fills"])
    assert qty == Decimal(order["executedQty"]) == Decimal("0.25")
    assert quote == Decimal(order["cummulativeQuoteQty"])
    prices = [Decimal(f["price"]) for f in order["fills"]]
    assert prices == sorted(prices), "a buy must take the cheapest asks first"
    assert all(
        f["commissionAsset"] == "WETH" and Decimal(f["commission"]) == 0 for f in order["fills"]
    )
    after = await balances(client)
    assert after["WETH"][0] - before["WETH"][0] == qty
    assert before["USDC"][0] - after["USDC"][0] == quote

    sell = {"symbol": SYMBOL, "side": "SELL", "type": "MARKET", "quoteOrderQty": "100"}
    reply = await client.signed("POST", "/api/v3/order", sell)
    assert reply.status == 200, reply.body
    assert Decimal(reply.body["cummulativeQuoteQty"]) <= 100
    assert Decimal(reply.body["origQuoteOrderQty"]) == 100


async def test_signatures_keys_and_timestamps_are_checked(
    client: RestClient, venue_server: VenueServer
) -> None:
    path = "/api/v3/account"
    assert (await client.signed("GET", path)).status == 200
    assert_error(await client.signed("GET", path, secret="0" * 64), 401, -1022)
    other = venue_server.accounts["resolver"]
    assert_error(await client.signed("GET", path, secret=other.api_secret), 401, -1022)
    assert_error(await client.call("GET", path, client.signed_query({})), 401, -2014)
    assert_error(await client.signed("GET", path, api_key="not-a-key"), 401, -2015)
    now = client.clock_ms()
    expired = await client.signed("GET", path, timestamp=now - 10_000, recv_window=5_000)
    assert_error(expired, 400, -1021)
    ahead = await client.signed("GET", path, timestamp=now + 10_000)
    assert_error(ahead, 400, -1021)
    assert_error(await client.signed("GET", path, recv_window=70_000), 400, -1131)
    # the signature covers the exact bytes: a parameter changed after signing fails
    query = client.signed_query({"symbol": SYMBOL}).replace("WETHUSDC", "WBTCUSDC")
    tampered = await client.call(
        "GET", "/api/v3/openOrders", query, headers={"X-MBX-APIKEY": client.api_key}
    )
    assert_error(tampered, 401, -1022)
    # query string and body are signed together, in that order
    head = "symbol=WETHUSDC&side=BUY&type=LIMIT&timeInForce=GTC"
    tail = f"quantity=0.5&price=900.00&timestamp={client.clock_ms()}"
    split = await client.call(
        "POST",
        "/api/v3/order",
        query=head,
        body=f"{tail}&signature={sign(client.api_secret, head + tail)}",
        headers={"X-MBX-APIKEY": client.api_key},
    )
    assert split.status == 200, split.body
    cancel = await client.signed(
        "DELETE", "/api/v3/order", {"symbol": SYMBOL, "orderId": split.body["orderId"]}
    )
    assert cancel.status == 200


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1"}, -1102),
        ({"side": "UP", "type": "MARKET", "quantity": "1"}, -1117),
        ({"side": "BUY", "type": "STOP", "quantity": "1"}, -1116),
        (
            {"side": "BUY", "type": "LIMIT", "timeInForce": "FOK", "quantity": "1", "price": "1"},
            -1115,
        ),
        ({"side": "BUY", "type": "MARKET", "quantity": "1,5"}, -1100),
        ({"side": "BUY", "type": "MARKET", "quantity": "1", "timeInForce": "GTC"}, -1106),
        (
            {
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "1",
                "price": "1000.001",
            },
            -1013,
        ),
        (
            {
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.00001",
                "price": "1000",
            },
            -1013,
        ),
        (
            {
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.0001",
                "price": "1000",
            },
            -1013,
        ),
        (
            {
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "5000",
                "price": "1000",
            },
            -2010,
        ),
        ({"side": "BUY", "type": "LIMIT_MAKER", "quantity": "1", "price": "999999"}, -2010),
    ],
)
async def test_bad_orders_are_refused_with_binance_codes(
    client: RestClient, params: dict[str, str], code: int
) -> None:
    reply = await client.signed("POST", "/api/v3/order", {"symbol": SYMBOL, **params})
    assert_error(reply, 400, code)


async def test_bad_symbol_on_signed_endpoints(client: RestClient) -> None:
    reply = await client.signed("POST", "/api/v3/order", {"symbol": "XYZ", "side": "BUY"})
    assert_error(reply, 400, -1121)
    assert_error(
        await client.signed("DELETE", "/api/v3/openOrders", {"symbol": SYMBOL}), 400, -2011
    )


# -- rate limits ---------------------------------------------------------------------------


async def test_request_weight_and_order_limits_answer_429_with_retry_after(
    session: aiohttp.ClientSession,
) -> None:
    base = load_venue_config(CONFIG_PATH, environ={})
    config = base.model_copy(
        update={
            "rate_limits": RateLimitConfig(
                request_weight=30, request_window_s=60, orders=3, orders_window_s=10
            )
        }
    )
    now_ns = 1_699_999_995_250_000_000  # 15.25 s into a minute, 5.25 s into 10 s
    account = AccountConfig(
        name="t", api_key="key", api_secret="secret", balances={"USDC": Decimal(10**6)}
    )
    runner = await start_venue(config, [account], market_maker=False, clock_ns=lambda: now_ns)
    try:
        client = RestClient(session, runner.rest_url, "key", "secret", lambda: now_ns // 10**6)
        order = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
        for i in range(3):
            reply = await client.signed(
                "POST", "/api/v3/order", {**order, "quantity": "1", "price": f"{1000 + i}"}
            )
            assert reply.status == 200, reply.body
            assert reply.headers["X-MBX-ORDER-COUNT-10S"] == str(i + 1)
        refused = await client.signed(
            "POST", "/api/v3/order", {**order, "quantity": "1", "price": "999"}
        )
        assert_error(refused, 429, -1015)
        assert refused.headers["Retry-After"] == "5"
        assert len(runner.engine.open_orders("t")) == 3
        used = 4
        while True:
            reply = await client.public("/api/v3/ping")
            if reply.status != 200:
                break
            used += 1
            assert reply.headers["X-MBX-USED-WEIGHT-1M"] == str(used)
        assert used == 30
        assert_error(reply, 429, -1003)
        assert reply.headers["Retry-After"] == "45"
    finally:
        await runner.stop()


# -- streams -------------------------------------------------------------------------------


def apply(book: dict[str, dict[Decimal, Decimal]], bids: Any, asks: Any) -> None:
    for side, levels in (("bids", bids), ("asks", asks)):
        for p, q in levels:
            if Decimal(q) == 0:
                book[side].pop(Decimal(p), None)
            else:
                book[side][Decimal(p)] = Decimal(q)


def as_book(snapshot: Any) -> dict[str, dict[Decimal, Decimal]]:
    book: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
    apply(book, snapshot["bids"], snapshot["asks"])
    return book


async def test_depth_diffs_rebuild_every_later_snapshot_exactly(
    client: RestClient, venue_server: VenueServer, session: aiohttp.ClientSession
) -> None:
    diffs: list[dict[str, Any]] = []
    url = f"{venue_server.ws_url}/ws/{SYMBOL.lower()}@depth@100ms"
    async with session.ws_connect(url) as ws:

        async def receive() -> None:
            async for message in ws:
                diffs.append(json.loads(message.data))

        reader = asyncio.create_task(receive())
        await asyncio.sleep(0.3)
        snapshots = []
        for _ in range(12):
            reply = await client.public("/api/v3/depth", symbol=SYMBOL, limit=5000)
            snapshots.append(reply.body)
            await asyncio.sleep(0.2)
        last = snapshots[-1]["lastUpdateId"]
        for _ in range(100):
            if diffs and diffs[-1]["u"] >= last:
                break
            await asyncio.sleep(0.05)
        reader.cancel()
        await asyncio.wait({reader})

    assert all(d["e"] == "depthUpdate" and d["s"] == SYMBOL for d in diffs)
    for previous, current in itertools.pairwise(diffs):
        assert current["U"] == previous["u"] + 1, "gap in the diff stream"
    first = snapshots[0]
    book = as_book(first)
    pending = {s["lastUpdateId"]: as_book(s) for s in snapshots[1:]}
    assert len(pending) > 3, "the market maker should move the book between snapshots"
    if first["lastUpdateId"] in pending:
        assert pending.pop(first["lastUpdateId"]) == book
    start = [d for d in diffs if d["u"] > first["lastUpdateId"]]
    assert start and start[0]["U"] <= first["lastUpdateId"] + 1 <= start[0]["u"]
    compared = 0
    for diff in start:
        apply(book, diff["b"], diff["a"])
        expected = pending.pop(diff["u"], None)
        if expected is not None:
            assert book == expected, f"book differs from the snapshot at update {diff['u']}"
            compared += 1
        assert not book["bids"] or not book["asks"] or max(book["bids"]) < min(book["asks"])
    assert not pending, "every snapshot id must end some diff"
    assert compared >= 3


async def test_trade_stream_and_combined_stream_control(
    client: RestClient, venue_server: VenueServer, session: aiohttp.ClientSession
) -> None:
    symbol = SYMBOL.lower()
    async with session.ws_connect(f"{venue_server.ws_url}/stream?streams={symbol}@trade") as ws:
        await ws.send_str(
            json.dumps({"method": "SUBSCRIBE", "params": ["wbtcusdc@depth"], "id": 7})
        )
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
        order = {"symbol": SYMBOL, "side": "SELL", "type": "MARKET", "quantity": "0.1"}
        placed = await client.signed("POST", "/api/v3/order", order)
        assert placed.status == 200, placed.body
        trade_ids = {f["tradeId"] for f in placed.body["fills"]}
        replies: dict[int, Any] = {}
        trades: dict[int, Any] = {}
        depth_seen = False
        async with asyncio.timeout(10):
            while not (trade_ids <= set(trades) and depth_seen and len(replies) == 2):
                message = json.loads((await ws.receive()).data)
                if "id" in message:
                    replies[message["id"]] = message
                elif message["stream"] == f"{symbol}@trade":
                    trades[message["data"]["t"]] = message["data"]
                else:
                    assert message["stream"] == "wbtcusdc@depth"
                    depth_seen = message["data"]["e"] == "depthUpdate"
        assert replies[7] == {"result": None, "id": 7}
        assert sorted(replies[8]["result"]) == ["wbtcusdc@depth", f"{symbol}@trade"]
        for fill in placed.body["fills"]:
            trade = trades[fill["tradeId"]]
            assert (trade["e"], trade["s"]) == ("trade", SYMBOL)
            assert (trade["p"], trade["q"]) == (fill["price"], fill["qty"])
            assert trade["m"] is True  # the buyer was the resting maker

    async with session.get(f"{venue_server.rest_url}/ws/dogeusdc@depth") as response:
        assert response.status == 400


async def test_cancel_all_open_orders_of_a_symbol(client: RestClient) -> None:
    order = {"symbol": "WBTCUSDC", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC"}
    ids = []
    for price in ("90000", "91000"):
        placed = await client.signed(
            "POST", "/api/v3/order", {**order, "quantity": "0.01", "price": price}
        )
        assert placed.status == 200, placed.body
        ids.append(placed.body["orderId"])
    reply = await client.signed("DELETE", "/api/v3/openOrders", {"symbol": "WBTCUSDC"})
    assert reply.status == 200, reply.body
    assert sorted(o["orderId"] for o in reply.body) == sorted(ids)
    assert {o["status"] for o in reply.body} == {"CANCELED"}
    assert (await client.signed("GET", "/api/v3/openOrders", {"symbol": "WBTCUSDC"})).body == []


async def test_a_stream_client_that_falls_behind_is_disconnected_not_sent_gaps(
    session: aiohttp.ClientSession,
) -> None:
    base = load_venue_config(CONFIG_PATH, environ={})
    config = base.model_copy(update={"ws_queue_size": 5})
    runner = await start_venue(config, market_maker=False)
    try:
        engine = runner.engine
        engine.open_account("flood", {"USDC": 10**15})
        url = f"{runner.ws_url}/ws/{SYMBOL.lower()}@depth"
        async with session.ws_connect(url) as ws:
            spec = engine.spec(SYMBOL)
            for i in range(20):  # no await in between: the sender cannot drain the queue
                engine.place(
                    OrderRequest(
                        "flood", SYMBOL, Side.BUY, OrderType.LIMIT, spec.lot_units * 10, 100_000 + i
                    ),
                    i,
                )
            async with asyncio.timeout(10):
                message = await ws.receive()
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == 1008
    finally:
        await runner.stop()
