"""Every bad input is answered with its own code and status, in the one error shape."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from eth_utils.address import to_checksum_address

from aggregator.devnet.manifest import DevnetManifest
from tests.api.conftest import API_KEY, ServiceThread

pytestmark = [pytest.mark.devnet]

SELL = {"asset": "USDC", "location": "alpha"}
BUY = {"asset": "WETH", "location": "beta"}


@pytest.fixture(scope="module")
def http(service: ServiceThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=30) as client:
        yield client


def quote_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"sell": SELL, "buy": BUY, "amount": "1000000000"}
    body.update(changes)
    return body


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return dict(body["details"])


def firm_quote(http: httpx.Client, **changes: Any) -> dict[str, Any]:
    response = http.post("/v1/quotes", json=quote_body(firm=True, **changes))
    assert response.status_code == 201, response.text
    return dict(response.json())


def swap_body(manifest: DevnetManifest, quote_id: str, **changes: Any) -> dict[str, Any]:
    # a fresh trader address per swap, so the per-address limit stays out of the way
    trader = to_checksum_address("0x" + secrets.token_hex(20))
    body = {
        "quote_id": quote_id,
        "source_address": trader,
        "destination_address": trader,
        "hashlock": "0x" + hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
    }
    body.update(changes)
    return body


AUTH = {"X-API-Key": API_KEY}


# -- a good quote first, so the bad ones are bad for their own reason ----------------


def test_a_firm_quote_is_served_with_amounts_as_strings_and_can_be_fetched(
    http: httpx.Client,
) -> None:
    quote = firm_quote(http)
    for field in ("amount", "amount_in", "amount_out", "min_amount_out"):
        assert isinstance(quote[field], str) and quote[field].isdigit(), field
    assert int(quote["amount_in"]) == 1_000_000_000
    assert int(quote["amount_out"]) > 0
    fetched = http.get(f"/v1/quotes/{quote['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["amount_out"] == quote["amount_out"]


# -- assets --------------------------------------------------------------------------


def test_unknown_asset_symbol(http: httpx.Client) -> None:
    response = http.post("/v1/quotes", json=quote_body(sell={"asset": "DOGE", "location": "alpha"}))
    assert assert_error(response, 400, "unknown_asset")["asset"] == "DOGE"


def test_unknown_chain_location(http: httpx.Client) -> None:
    response = http.post("/v1/quotes", json=quote_body(buy={"asset": "WETH", "location": "mars"}))
    assert_error(response, 400, "unknown_asset")


def test_unknown_token_address_on_a_known_chain(http: httpx.Client) -> None:
    token = "0x000000000000000000000000000000000000dEaD"
    response = http.post("/v1/quotes", json=quote_body(sell={"token": token, "chain_id": 31001}))
    assert_error(response, 400, "unknown_asset")


def test_token_address_with_chain_id_is_accepted(
    http: httpx.Client, manifest: DevnetManifest
) -> None:
    usdc = manifest.chain("alpha").tokens["USDC"].address
    response = http.post("/v1/quotes", json=quote_body(sell={"token": usdc, "chain_id": 31001}))
    assert response.status_code == 201, response.text
    assert response.json()["sell"] == {
        "asset": "USDC",
        "location": "alpha",
        "kind": "chain",
        "chain_id": 31001,
    }


# -- amounts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "reason"),
    [("0", "zero"), ("-5", "negative"), ("1.5", "fractional"), ("12abc", "not_an_integer")],
)
def test_bad_amount_strings(http: httpx.Client, amount: str, reason: str) -> None:
    response = http.post("/v1/quotes", json=quote_body(amount=amount))
    assert assert_error(response, 400, "invalid_amount")["reason"] == reason


@pytest.mark.parametrize("amount", [1000000, 1.5, -3, None])
def test_amount_that_is_not_a_string(http: httpx.Client, amount: Any) -> None:
    response = http.post("/v1/quotes", json=quote_body(amount=amount))
    assert_error(response, 400, "invalid_amount")


def test_amount_beyond_all_liquidity(http: httpx.Client) -> None:
    # a million WETH out: more than every pool and the resolver's inventory hold
    body = quote_body(amount=str(10**6 * 10**18), mode="exact_out")
    assert_error(http.post("/v1/quotes", json=body), 422, "insufficient_liquidity")


# -- addresses -----------------------------------------------------------------------


def test_malformed_token_address(http: httpx.Client) -> None:
    response = http.post("/v1/quotes", json=quote_body(sell={"token": "0x1234", "chain_id": 31001}))
    assert assert_error(response, 400, "invalid_address")["field"] == "sell.token"


def test_non_checksummed_token_address(http: httpx.Client, manifest: DevnetManifest) -> None:
    usdc = manifest.chain("alpha").tokens["USDC"].address.lower()
    response = http.post("/v1/quotes", json=quote_body(sell={"token": usdc, "chain_id": 31001}))
    assert_error(response, 400, "invalid_address")


def test_malformed_trader_address(http: httpx.Client, manifest: DevnetManifest) -> None:
    quote = firm_quote(http)
    body = swap_body(manifest, quote["id"], source_address="0xnot-an-address")
    response = http.post("/v1/swaps", json=body, headers=AUTH)
    assert assert_error(response, 400, "invalid_address")["field"] == "source_address"


def test_non_checksummed_trader_address(http: httpx.Client, manifest: DevnetManifest) -> None:
    quote = firm_quote(http)
    lower = to_checksum_address("0x" + secrets.token_hex(20)).lower()
    body = swap_body(manifest, quote["id"], destination_address=lower)
    response = http.post("/v1/swaps", json=body, headers=AUTH)
    assert assert_error(response, 400, "invalid_address")["field"] == "destination_address"


# -- quote ids -----------------------------------------------------------------------


def test_unknown_quote_id(http: httpx.Client, manifest: DevnetManifest) -> None:
    assert_error(http.get("/v1/quotes/" + "0" * 32), 404, "quote_not_found")
    response = http.post("/v1/swaps", json=swap_body(manifest, "f" * 32), headers=AUTH)
    assert_error(response, 404, "quote_not_found")


def test_expired_quote_id(
    http: httpx.Client, manifest: DevnetManifest, service: ServiceThread
) -> None:
    quote = firm_quote(http)
    # age the stored quote: its expiry one second in the past
    store = redis.Redis.from_url(service.settings.redis.url.get_secret_value())
    key = f"quote:{quote['id']}"
    stored = json.loads(store.get(key))
    stored["expires_ns"] = stored["created_ns"] - 1_000_000_000
    store.set(key, json.dumps(stored), keepttl=True)
    store.close()
    assert http.get(f"/v1/quotes/{quote['id']}").json()["expired"] is True
    response = http.post("/v1/swaps", json=swap_body(manifest, quote["id"]), headers=AUTH)
    assert_error(response, 409, "quote_expired")


def test_reused_quote_id(http: httpx.Client, manifest: DevnetManifest) -> None:
    quote = firm_quote(http)
    first = http.post("/v1/swaps", json=swap_body(manifest, quote["id"]), headers=AUTH)
    assert first.status_code == 201, first.text
    ticket = first.json()
    assert ticket["lock"]["terms"]["amount"] == quote["amount_in"]
    assert ticket["destination"]["amount"] == quote["amount_out"]
    assert ticket["lock"]["calldata"].startswith("0x")
    again = http.post("/v1/swaps", json=swap_body(manifest, quote["id"]), headers=AUTH)
    assert_error(again, 409, "quote_already_used")


def test_quote_that_is_not_firm_cannot_be_swapped(
    http: httpx.Client, manifest: DevnetManifest
) -> None:
    quote = http.post("/v1/quotes", json=quote_body()).json()
    response = http.post("/v1/swaps", json=swap_body(manifest, quote["id"]), headers=AUTH)
    assert_error(response, 409, "quote_not_firm")


# -- access --------------------------------------------------------------------------


def test_missing_api_key(http: httpx.Client, manifest: DevnetManifest) -> None:
    assert_error(http.post("/v1/swaps", json=swap_body(manifest, "a" * 32)), 401, "unauthorized")
    assert_error(http.get("/v1/swaps"), 401, "unauthorized")


def test_wrong_api_key(http: httpx.Client, manifest: DevnetManifest) -> None:
    wrong = {"X-API-Key": API_KEY + "x"}
    response = http.post("/v1/swaps", json=swap_body(manifest, "a" * 32), headers=wrong)
    assert_error(response, 401, "unauthorized")
    assert_error(http.get("/v1/swaps/" + "0" * 64, headers=wrong), 401, "unauthorized")


def test_too_many_requests_per_trader_address(http: httpx.Client, manifest: DevnetManifest) -> None:
    # the per-address bucket holds 3 and refills one every 5 s: the 4th quick try is refused
    other = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
    statuses = []
    for _ in range(4):
        body = swap_body(manifest, "b" * 32, source_address=other, destination_address=other)
        statuses.append(http.post("/v1/swaps", json=body, headers=AUTH))
    assert [r.status_code for r in statuses[:3]] == [404, 404, 404]
    last = statuses[3]
    details = assert_error(last, 429, "rate_limited")
    assert int(last.headers["Retry-After"]) >= 1
    assert details["scope"] == "swap_address"


# -- bodies and routes ---------------------------------------------------------------


def test_malformed_json(http: httpx.Client) -> None:
    response = http.post(
        "/v1/quotes", content=b'{"sell": ', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "malformed_json")


def test_body_that_breaks_the_schema(http: httpx.Client) -> None:
    response = http.post("/v1/quotes", json={"sell": SELL, "amount": "5", "extra": 1})
    details = assert_error(response, 422, "invalid_request")
    fields = {f["field"] for f in details["fields"]}
    assert {"buy", "extra"} <= fields


def test_unknown_swap_state_filter(http: httpx.Client) -> None:
    response = http.get("/v1/swaps", params={"state": "nope"}, headers=AUTH)
    assert_error(response, 422, "invalid_request")


def test_unknown_route_and_method(http: httpx.Client) -> None:
    assert_error(http.get("/v1/nothing-here"), 404, "not_found")
    assert_error(http.delete("/v1/quotes"), 405, "method_not_allowed")


def test_unknown_market_book(http: httpx.Client) -> None:
    assert_error(http.get("/v1/books/alpha:0xnothing"), 404, "market_not_found")
