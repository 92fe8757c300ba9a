"""The REST client replayed against recorded venue answers with respx."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from aggregator.errors import (
    VenueAuthError,
    VenueError,
    VenueRateLimitError,
    VenueRejectedError,
    VenueUnavailableError,
)
from connectors.offchain_venue.config import OffchainVenueConfig
from connectors.offchain_venue.ratelimit import RateLimiter, request_weight
from connectors.offchain_venue.rest import VenueRestClient
from connectors.offchain_venue.schemas import ExchangeInfo

from .conftest import recorded_response, resource_json, resource_text

REST = "http://venue.test"
KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


class ManualClock:
    """Wall clock and sleep for the rate limiter, advanced only by sleeping."""

    def __init__(self, now: float = 1_718_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _client(clock: ManualClock | None = None, **overrides: object) -> VenueRestClient:
    config = OffchainVenueConfig.model_validate(
        {"rest_url": REST, "ws_url": "ws://venue.test", "api_key": KEY, "api_secret": SECRET}
        | overrides
    )
    limiter = (
        RateLimiter(safety=config.rate_limit_safety, clock=clock, sleep=clock.sleep)
        if clock
        else None
    )
    return VenueRestClient(config, limiter=limiter)


def _order_params() -> list[tuple[str, str]]:
    return [
        ("symbol", "WETHUSDC"),
        ("side", "SELL"),
        ("type", "LIMIT"),
        ("timeInForce", "IOC"),
        ("quantity", "0.5"),
        ("price", "2999.38"),
        ("newClientOrderId", "leg-7f3a2c"),
        ("newOrderRespType", "FULL"),
    ]


@respx.mock(base_url=REST, assert_all_called=False)
async def test_signed_order_carries_key_timestamp_window_and_hmac_of_the_query(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post("/api/v3/order").mock(
        return_value=httpx.Response(200, content=resource_text("order_full_sell.json"))
    )
    client = _client(recv_window_ms=7000)
    before = time.time_ns() // 10**6
    response = await client.new_order(_order_params())
    after = time.time_ns() // 10**6
    assert response.orderId == resource_json("order_full_sell.json")["orderId"]
    request = route.calls.last.request
    assert request.headers["X-MBX-APIKEY"] == KEY
    query = request.url.query.decode()
    unsigned, _, signature = query.rpartition("&signature=")
    expected = hmac.new(SECRET.encode(), unsigned.encode(), hashlib.sha256).hexdigest()
    assert signature == expected
    params = parse_qsl(unsigned)
    assert params[: len(_order_params())] == _order_params()
    extra = dict(params[len(_order_params()) :])
    assert extra["recvWindow"] == "7000"
    assert before <= int(extra["timestamp"]) <= after
    await client.aclose()


@pytest.mark.parametrize(
    ("resource", "error_type"),
    [
        ("error_invalid_symbol.json", VenueRejectedError),
        ("error_insufficient_balance.json", VenueRejectedError),
        ("error_filter_lot_size.json", VenueRejectedError),
        ("error_bad_api_key.json", VenueAuthError),
        ("error_bad_signature.json", VenueAuthError),
        ("error_rate_limit.json", VenueRateLimitError),
        ("error_internal.json", VenueUnavailableError),
    ],
)
@respx.mock(base_url=REST, assert_all_called=False)
async def test_recorded_error_bodies_map_to_typed_errors(
    respx_mock: respx.MockRouter, resource: str, error_type: type[VenueError]
) -> None:
    respx_mock.post("/api/v3/order").mock(return_value=recorded_response(resource))
    client = _client(ManualClock())
    with pytest.raises(VenueError) as caught:
        await client.new_order(_order_params())
    recorded = resource_json(resource)
    assert type(caught.value) is error_type
    assert caught.value.venue_code == recorded["body"]["code"]
    assert caught.value.details["http_status"] == recorded["status"]
    if error_type is VenueRateLimitError:
        assert isinstance(caught.value, VenueRateLimitError)
        assert caught.value.retry_after == float(recorded["headers"]["Retry-After"])
    await client.aclose()


@respx.mock(base_url=REST, assert_all_called=False)
async def test_invalid_symbol_on_depth_is_rejected(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/v3/depth").mock(
        return_value=recorded_response("error_invalid_symbol.json")
    )
    client = _client()
    with pytest.raises(VenueRejectedError) as caught:
        await client.depth("NOPE", 100)
    assert caught.value.venue_code == -1121
    await client.aclose()


@respx.mock(base_url=REST, assert_all_called=False)
async def test_429_bans_requests_until_retry_after_has_passed(
    respx_mock: respx.MockRouter,
) -> None:
    clock = ManualClock()
    retry_after = float(resource_json("error_rate_limit.json")["headers"]["Retry-After"])
    depth = respx_mock.get("/api/v3/depth").mock(
        side_effect=[
            recorded_response("error_rate_limit.json"),
            httpx.Response(200, content=resource_text("depth_snapshot_wethusdc.json")),
        ]
    )
    order = respx_mock.post("/api/v3/order")
    client = _client(clock)
    with pytest.raises(VenueRateLimitError):
        await client.depth("WETHUSDC", 100)
    # Orders never wait: refused locally, the venue is not asked during the ban.
    with pytest.raises(VenueRateLimitError) as caught:
        await client.new_order(_order_params())
    assert caught.value.retry_after == pytest.approx(retry_after)
    assert order.call_count == 0
    # Market data waits the ban out, then goes through.
    snapshot = await client.depth("WETHUSDC", 100)
    assert snapshot.lastUpdateId == resource_json("depth_snapshot_wethusdc.json")["lastUpdateId"]
    assert clock.slept == [pytest.approx(retry_after)]
    assert depth.call_count == 2
    await client.aclose()


@respx.mock(base_url=REST, assert_all_called=False)
async def test_weight_budget_from_exchange_info_paces_requests(
    respx_mock: respx.MockRouter,
) -> None:
    clock = ManualClock(now=1_718_000_017.0)
    respx_mock.get("/api/v3/exchangeInfo").mock(
        return_value=httpx.Response(200, content=resource_text("exchange_info.json"))
    )
    depth = respx_mock.get("/api/v3/depth").mock(
        return_value=httpx.Response(200, content=resource_text("depth_snapshot_wethusdc.json"))
    )
    client = _client(clock, rate_limit_safety=0.5)
    info = await client.exchange_info()
    weight_limit = next(r for r in info.rateLimits if r.rateLimitType == "REQUEST_WEIGHT")
    # exchangeInfo itself was sent before the budget was known, so it is not counted.
    budget = int(weight_limit.limit * 0.5)
    per_request = request_weight("GET", "/api/v3/depth", {"limit": 1000})
    fits = budget // per_request
    for _ in range(fits):
        await client.depth("WETHUSDC", 1000)
    assert clock.slept == []
    window_left = 60 - clock.now % 60
    await client.depth("WETHUSDC", 1000)
    # The next request waited for the one-minute window to roll over, to the second.
    assert clock.slept == [pytest.approx(window_left)]
    assert depth.call_count == fits + 1
    await client.aclose()


@respx.mock(base_url=REST, assert_all_called=False)
async def test_used_weight_reported_by_the_venue_is_honoured(
    respx_mock: respx.MockRouter,
) -> None:
    clock = ManualClock(now=1_718_000_043.0)
    info = ExchangeInfo.model_validate_json(resource_text("exchange_info.json"))
    limit = next(r for r in info.rateLimits if r.rateLimitType == "REQUEST_WEIGHT").limit
    respx_mock.get("/api/v3/depth").mock(
        return_value=httpx.Response(
            200,
            content=resource_text("depth_snapshot_wethusdc.json"),
            headers={"X-MBX-USED-WEIGHT-1M": str(limit)},
        )
    )
    client = _client(clock)
    client.limiter.configure(info.rateLimits)
    await client.depth("WETHUSDC", 100)
    assert clock.slept == []
    window_left = 60 - clock.now % 60
    await client.depth("WETHUSDC", 100)
    assert clock.slept == [pytest.approx(window_left)]
    await client.aclose()


@respx.mock(base_url=REST, assert_all_called=False)
async def test_timestamp_outside_recv_window_resyncs_the_clock_and_retries_once(
    respx_mock: respx.MockRouter,
) -> None:
    offset_ms = 90_000
    respx_mock.get("/api/v3/time").mock(
        side_effect=lambda request: httpx.Response(
            200, json={"serverTime": time.time_ns() // 10**6 + offset_ms}
        )
    )
    order = respx_mock.post("/api/v3/order").mock(
        side_effect=[
            recorded_response("error_timestamp.json"),
            httpx.Response(200, content=resource_text("order_full_sell.json")),
        ]
    )
    client = _client()
    await client.new_order(_order_params())
    assert order.call_count == 2
    stamps = [int(dict(parse_qsl(c.request.url.query.decode()))["timestamp"]) for c in order.calls]
    assert stamps[1] - stamps[0] >= offset_ms - 1_000
    assert client.time_offset_ms == pytest.approx(offset_ms, abs=1_000)
    await client.aclose()


@respx.mock(base_url=REST, assert_all_called=False)
async def test_transport_failure_is_unavailable(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/v3/depth").mock(side_effect=httpx.ConnectError("connection refused"))
    client = _client()
    with pytest.raises(VenueUnavailableError) as caught:
        await client.depth("WETHUSDC", 100)
    assert caught.value.retryable
    await client.aclose()


@respx.mock(base_url=REST, assert_all_called=False)
async def test_malformed_success_body_is_a_venue_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/v3/depth").mock(
        return_value=httpx.Response(200, content=json.dumps({"lastUpdateId": "x", "bids": 1}))
    )
    client = _client()
    with pytest.raises(VenueError, match="malformed"):
        await client.depth("WETHUSDC", 100)
    await client.aclose()


async def test_signed_request_without_credentials_is_refused_locally() -> None:
    config = OffchainVenueConfig(rest_url=REST, ws_url="ws://venue.test")
    client = VenueRestClient(config)
    with respx.mock(base_url=REST, assert_all_called=False) as mock:
        route = mock.get("/api/v3/account")
        with pytest.raises(VenueAuthError):
            await client.account()
        assert route.call_count == 0
    await client.aclose()
