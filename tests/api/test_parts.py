"""The parts under the API: settings, keys, the book cache codec and channel, rate limits,
metrics exposition, OpenAPI coverage and the docs page."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from aggregator.api.app import openapi_document, operations
from aggregator.api.auth import ApiKeyAuth
from aggregator.api.docs import render_docs
from aggregator.api.metrics import Metrics
from aggregator.api.ratelimit import RateLimiter
from aggregator.errors import ConfigError, RateLimitedError
from aggregator.models.liquidity import AmmCurve, BookLevel, OrderBook
from aggregator.models.market import Side
from aggregator.plugins.protocol import Health, HealthStatus
from aggregator.service.batcher import Queue, RedisBatcher
from aggregator.service.bookcache import BookCache, BookCachePublisher, VenueRecord
from aggregator.service.codec import decode_liquidity, encode_liquidity
from aggregator.settings import RateLimit, hash_api_key, load_settings

# -- settings ------------------------------------------------------------------------


def test_environment_overrides_the_file_and_keys_are_kept_hashed(tmp_path: Path) -> None:
    path = tmp_path / "service.toml"
    path.write_text('[api]\nport = 9000\n[redis]\nurl = "redis://file:1/0"\n')
    env = {
        "AGGREGATOR_REDIS_URL": "redis://env:2/0",
        "AGGREGATOR_API_KEYS": "alpha, beta",
        "AGGREGATOR_API__QUOTE_RATE__BURST": "7",
        "AGGREGATOR_API_PORT": "9100",
    }
    settings = load_settings(path, env)
    assert settings.redis.url.get_secret_value() == "redis://env:2/0"
    assert "env:2" not in repr(settings.redis)
    assert settings.api.port == 9100
    assert settings.api.quote_rate.burst == 7
    assert settings.api.key_hashes() == {hash_api_key("alpha"), hash_api_key("beta")}


def test_an_invalid_setting_names_its_field(tmp_path: Path) -> None:
    path = tmp_path / "service.toml"
    path.write_text("[api]\nworkers = 0\n")
    with pytest.raises(ConfigError, match=r"api\.workers"):
        load_settings(path, {})


def test_api_keys_match_only_exactly() -> None:
    auth = ApiKeyAuth([hash_api_key("k-1"), hash_api_key("k-2")])
    assert auth.verify("k-2") == hash_api_key("k-2")
    assert auth.verify("k-3") is None
    assert auth.verify("k-") is None


# -- book cache ----------------------------------------------------------------------


def _book(seq: int, recv: int) -> OrderBook:
    return OrderBook(
        market_id="clob:WETHUSDC",
        bids=(BookLevel(Decimal("2999.5"), 10**18), BookLevel(Decimal("2999"), 3 * 10**17)),
        asks=(BookLevel(Decimal("3000.25"), 5 * 10**17),),
        base_decimals=18,
        quote_decimals=6,
        lot_size=10**12,
        fee_bps=10,
        sequence=seq,
        ts_event=recv - 5,
        ts_recv=recv,
    )


def _curve() -> AmmCurve:
    return AmmCurve(
        market_id="alpha:0xPool",
        pool="0x0165878A594ca255338adfa4d48449f69242Eb8F",
        reserve_base=123 * 10**18 + 7,
        reserve_quote=369_000 * 10**6 + 1,
        fee_bps=30,
        base_decimals=18,
        quote_decimals=6,
        sequence=42,
        ts_event=1_000,
        ts_recv=2_000,
    )


@pytest.mark.parametrize("liquidity", [_book(5, 100), _curve()])
def test_codec_round_trips_exactly(liquidity: OrderBook | AmmCurve) -> None:
    decoded = decode_liquidity(encode_liquidity(liquidity))
    assert decoded.model_dump() == liquidity.model_dump()
    for amount in (10**15, 10**18, 7 * 10**17 + 3):
        for side in Side:
            assert decoded.amount_out(amount, side) == liquidity.amount_out(amount, side)
    assert decoded.mid_price() == liquidity.mid_price()


async def test_a_worker_cache_follows_the_publisher_and_keeps_the_newest(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    publisher = BookCachePublisher(redis, "t")
    health = Health(connector="clob", status=HealthStatus.HEALTHY)
    await publisher.publish_venue(VenueRecord("clob", (), health, None))
    publisher.offer(_book(1, 100))
    await publisher.flush()
    cache = BookCache(Redis.from_url(redis_url), "t")
    await cache.start()
    try:
        assert cache.liquidity["clob:WETHUSDC"].sequence == 1
        assert "clob" in cache.venues
        version = cache.version
        publisher.offer(_book(2, 200))
        await publisher.flush()
        await publisher.heartbeat()
        for _ in range(200):
            if cache.liquidity["clob:WETHUSDC"].sequence == 2 and cache.heartbeat_ns:
                break
            await asyncio.sleep(0.01)
        assert cache.liquidity["clob:WETHUSDC"].sequence == 2
        assert cache.version > version
        assert cache.health("clob").status is HealthStatus.HEALTHY
        # an older update arriving late does not replace the newer one
        publisher.offer(_book(1, 150))
        await publisher.flush()
        await asyncio.sleep(0.1)
        assert cache.liquidity["clob:WETHUSDC"].sequence == 2
        # a silent publisher makes every venue stale
        assert cache.health("clob", cache.heartbeat_ns + 10**11).status is HealthStatus.STALE
    finally:
        await cache.stop()
        await cache.redis.aclose()
        await redis.aclose()


# -- rate limits ---------------------------------------------------------------------


async def test_token_bucket_refuses_past_the_burst_then_refills(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    batcher = RedisBatcher(redis)
    limiter = RateLimiter(batcher, "t:rl")
    limit = RateLimit(rate_per_s=20, burst=3)
    try:
        results = await asyncio.gather(
            *(limiter.take("quote", "1.2.3.4", limit) for _ in range(5)), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, RateLimitedError)]
        assert len(refused) == 2
        assert all(r.retry_after >= 1 for r in refused)
        await limiter.take("quote", "5.6.7.8", limit)  # another client has its own bucket
        await asyncio.sleep(0.2)  # 20 per second: a few tokens back
        await limiter.take("quote", "1.2.3.4", limit)
    finally:
        await batcher.close()
        await redis.aclose()


async def test_token_bucket_script_is_sent_again_after_the_server_forgot_it(
    redis_url: str,
) -> None:
    redis = Redis.from_url(redis_url)
    batcher = RedisBatcher(redis)
    limiter = RateLimiter(batcher, "t:rl-flush")
    limit = RateLimit(rate_per_s=0.001, burst=2)
    try:
        await limiter.take("quote", "9.9.9.9", limit)
        await redis.script_flush()
        await limiter.take("quote", "9.9.9.9", limit)  # by text once, then by sha again
        with pytest.raises(RateLimitedError):
            await limiter.take("quote", "9.9.9.9", limit)
    finally:
        await batcher.close()
        await redis.aclose()


async def test_commands_taken_with_a_token_run_only_when_it_is_granted(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    batcher = RedisBatcher(redis)
    limiter = RateLimiter(batcher, "t:rl-then")
    limit = RateLimit(rate_per_s=0.001, burst=1)

    def storing(key: str) -> Queue:
        async def queue(pipe: Pipeline) -> Any:
            await pipe.set(key, "stored", px=60_000)
            await pipe.xadd("t:rl-then:stream", {"quote": key}, maxlen=100, approximate=True)

        return queue

    try:
        replies = await limiter.take_then("quote", "7.7.7.7", limit, storing("t:rl-then:granted"))
        assert replies[0] == b"OK" and replies[1].count(b"-") == 1  # SET's status, XADD's id
        with pytest.raises(RateLimitedError):
            await limiter.take_then("quote", "7.7.7.7", limit, storing("t:rl-then:refused"))
        assert await redis.get("t:rl-then:granted") == b"stored"
        assert await redis.get("t:rl-then:refused") is None
        entries = await redis.xrange("t:rl-then:stream")
        assert [dict(fields or {})[b"quote"] for _, fields in entries or []] == [
            b"t:rl-then:granted"
        ]
        # refused moments ago: refused again without asking, until a token is back
        await redis.delete("t:rl-then:quote:7.7.7.7")
        with pytest.raises(RateLimitedError) as refused:
            limiter.check("quote", "7.7.7.7")
        assert refused.value.retry_after >= 1
        limiter.check("quote", "8.8.8.8")  # another client is not
    finally:
        await batcher.close()
        await redis.aclose()


# -- metrics, OpenAPI, docs ----------------------------------------------------------


def test_metrics_are_valid_prometheus_text() -> None:
    metrics = Metrics()
    metrics.observe_quote(0.002, "ok")
    metrics.observe_quote(0.2, "insufficient_liquidity")
    metrics.observe_request("/v1/quotes", 201)
    text = metrics.render(
        swaps_by_state={"completed": 3},
        connector_age_s={"alpha": 0.5},
        connector_up={"alpha": True},
        chain_age_s={"alpha": 0.25},
    )
    line = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)+\})? [0-9.e+-]+$')
    for row in text.strip().splitlines():
        assert row.startswith("# ") or line.match(row), row
    assert 'aggregator_quote_latency_seconds_bucket{worker="' in text
    assert 'le="+Inf"} 2' in text
    assert 'aggregator_swaps{state="completed"} 3' in text


def test_openapi_documents_every_route_and_every_error() -> None:
    spec = openapi_document()
    assert spec["openapi"] == "3.1.0"
    paths = spec["paths"]
    assert isinstance(paths, dict)
    for op in operations():
        documented = paths[op.path][op.method.lower()]
        assert "500" in documented["responses"]
        for status in op.errors:
            schema = documented["responses"][str(status)]["content"]["application/json"]
            assert schema["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    quote_body = paths["/v1/quotes"]["post"]["requestBody"]["content"]["application/json"]
    assert quote_body["schema"]["$ref"].endswith("QuoteRequestBody")


def test_docs_page_is_self_contained() -> None:
    page = render_docs(openapi_document())
    assert "/v1/quotes" in page and "QuoteRequestBody" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page


async def test_a_snippet_taken_with_a_token_runs_only_when_it_is_granted(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    batcher = RedisBatcher(redis)
    limiter = RateLimiter(batcher, "t:rl-lua")
    limit = RateLimit(rate_per_s=0.001, burst=1)
    lua = "replies[1] = redis.call('INCRBY', ARGV[4], ARGV[5])"
    try:
        granted = await limiter.take_then_lua("quote", "6.6.6.6", limit, lua, ["t:rl-lua:n", 5])
        assert granted == [5]
        with pytest.raises(RateLimitedError):
            await limiter.take_then_lua("quote", "6.6.6.6", limit, lua, ["t:rl-lua:n", 7])
        assert await redis.get("t:rl-lua:n") == b"5"
        # the script is sent by its digest, and in full once when Redis does not know it
        await redis.script_flush()
        again = await limiter.take_then_lua("quote", "5.5.5.5", limit, lua, ["t:rl-lua:n", 1])
        assert again == [6]
    finally:
        await batcher.close()
        await redis.aclose()
