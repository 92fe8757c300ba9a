"""WebSocket /v1/stream: a quote subscription answers with quotes, a swap one with states."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from typing import Any

import aiohttp
import httpx
import pytest
from eth_utils.address import to_checksum_address

from tests.api.conftest import API_KEY, ServiceThread

pytestmark = [pytest.mark.devnet]

REQUEST = {
    "sell": {"asset": "WETH", "location": "beta"},
    "buy": {"asset": "USDC", "location": "alpha"},
    "amount": "1000000000000000000",
}


async def _receive(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(ws.receive(), 20)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        data: dict[str, Any] = json.loads(message.data)
        if data["type"] == kind:
            return data
        assert data["type"] != "error", data


async def test_a_quote_subscription_streams_quotes_that_can_be_fetched(
    service: ServiceThread,
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{service.url}/v1/stream") as ws:
            await ws.send_json({"op": "subscribe_quote", "id": "q1", "request": REQUEST})
            assert (await _receive(ws, "subscribed"))["id"] == "q1"
            first = await _receive(ws, "quote")
            assert first["id"] == "q1"
            quote = first["quote"]
            assert quote["amount_in"] == REQUEST["amount"]
            assert int(quote["amount_out"]) > 0
            async with session.get(f"{service.url}/v1/quotes/{quote['id']}") as response:
                assert response.status == 200
                assert (await response.json())["amount_out"] == quote["amount_out"]
            await ws.send_json({"op": "unsubscribe", "id": "q1"})
            assert (await _receive(ws, "unsubscribed"))["id"] == "q1"


async def test_bad_subscriptions_are_answered_with_typed_errors(service: ServiceThread) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{service.url}/v1/stream") as ws:
            await ws.send_str("{not json")
            assert (await _receive(ws, "error"))["error"]["code"] == "malformed_json"
            bad = {**REQUEST, "amount": "-1"}
            await ws.send_json({"op": "subscribe_quote", "id": "b", "request": bad})
            assert (await _receive(ws, "error"))["error"]["code"] == "invalid_amount"
            await ws.send_json({"op": "subscribe_swap", "id": "s", "swap_id": "0x" + "0" * 64})
            assert (await _receive(ws, "error"))["error"]["code"] == "unauthorized"


async def test_a_swap_subscription_sends_the_swap_state(service: ServiceThread) -> None:
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
        quote = (await http.post("/v1/quotes", json={**REQUEST, "firm": True})).json()
        trader = to_checksum_address("0x" + secrets.token_hex(20))
        created = await http.post(
            "/v1/swaps",
            json={
                "quote_id": quote["id"],
                "source_address": trader,
                "destination_address": trader,
                "hashlock": "0x" + hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
            },
            headers={"X-API-Key": API_KEY},
        )
        assert created.status_code == 201, created.text
        swap_id = created.json()["swap"]["id"]
    headers = {"X-API-Key": API_KEY}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{service.url}/v1/stream", headers=headers) as ws:
            await ws.send_json({"op": "subscribe_swap", "id": "s1", "swap_id": swap_id})
            assert (await _receive(ws, "subscribed"))["id"] == "s1"
            update = await _receive(ws, "swap")
            assert update["swap"]["id"] == swap_id
            assert update["swap"]["state"] == "awaiting_source_lock"
            assert update["swap"]["history"][0]["event"] == "created"
