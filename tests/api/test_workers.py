"""``aggregator serve --workers 2``: workers share one port, and any worker serves any quote.

A quote made by one worker is fetched and turned into a swap through another
(they share the quote store in Redis). Each response names the worker process
that served it (``X-Worker``), and fresh connections are spread over the
workers by the kernel (``SO_REUSEPORT``).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from eth_utils.address import to_checksum_address

from aggregator.api.server import free_port
from aggregator.devnet.manifest import DevnetManifest
from tests.fixtures.processes import RedisServer

pytestmark = [pytest.mark.devnet, pytest.mark.slow]

API_KEY = "workers-test-key"


@pytest.fixture(scope="module")
def served(
    devnet: DevnetManifest, devnet_state_dir: Path, redis_server: RedisServer
) -> Iterator[str]:
    url = f"redis://127.0.0.1:{redis_server.port}/8"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    env.update({"AGGREGATOR_REDIS_URL": url, "AGGREGATOR_API_KEYS": API_KEY})
    argv = [sys.executable, "-m", "aggregator.cli", "serve", "--workers", "2"]
    argv += ["--port", str(port), "--devnet-dir", str(devnet_state_dir)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(base + "/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the service did not become healthy"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _on_other_worker(
    base: str, method: str, path: str, not_worker: str, **kwargs: Any
) -> httpx.Response:
    """Send once, on a kept-alive connection that a worker other than ``not_worker`` serves.

    Fresh connections are probed with GET /v1/ping until one lands on another
    worker; the request then goes over that same connection.
    """
    for _ in range(200):
        client = httpx.Client(base_url=base, timeout=30)
        try:
            if client.get("/v1/ping").headers["X-Worker"] == not_worker:
                continue
            response = client.request(method, path, **kwargs)
            assert response.headers["X-Worker"] != not_worker
            return response
        finally:
            client.close()
    raise AssertionError("every connection went to the same worker")


def test_a_quote_made_by_one_worker_is_fetched_and_swapped_through_another(
    served: str, devnet: DevnetManifest
) -> None:
    body = {
        "sell": {"asset": "USDC", "location": "alpha"},
        "buy": {"asset": "WETH", "location": "gamma"},
        "amount": "2000000000",
        "firm": True,
    }
    with httpx.Client(base_url=served, timeout=30) as client:
        made = client.post("/v1/quotes", json=body)
    assert made.status_code == 201, made.text
    maker = made.headers["X-Worker"]
    quote = made.json()

    fetched = _on_other_worker(served, "GET", f"/v1/quotes/{quote['id']}", maker)
    assert fetched.status_code == 200
    assert fetched.json()["amount_out"] == quote["amount_out"]

    trader = to_checksum_address("0x" + secrets.token_hex(20))
    swap = {
        "quote_id": quote["id"],
        "source_address": trader,
        "destination_address": trader,
        "hashlock": "0x" + hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
    }
    created = _on_other_worker(
        served, "POST", "/v1/swaps", maker, json=swap, headers={"X-API-Key": API_KEY}
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert ticket["lock"]["terms"]["amount"] == quote["amount_in"]
    assert ticket["destination"]["amount"] == quote["amount_out"]
    assert ticket["swap"]["quote_id"] == quote["id"]
    with httpx.Client(base_url=served, timeout=30) as client:
        shown = client.get(f"/v1/swaps/{ticket['swap']['id']}", headers={"X-API-Key": API_KEY})
    assert shown.status_code == 200
    assert shown.json()["state"] == "awaiting_source_lock"


def test_both_workers_see_the_same_markets_from_the_book_cache(served: str) -> None:
    seen: dict[str, set[str]] = {}
    for _ in range(100):
        with httpx.Client(base_url=served, timeout=30) as client:
            response = client.get("/v1/markets")
        ids = {m["id"] for m in response.json()["markets"] if m["mid"] is not None}
        seen.setdefault(response.headers["X-Worker"], set()).update(ids)
        if len(seen) == 2:
            break
    assert len(seen) == 2, "only one worker answered"
    first, second = seen.values()
    assert first == second and len(first) >= 9
