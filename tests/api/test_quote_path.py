"""The quote path's shortcuts give what the long way gives.

Quotes renewed from one memoized route are stored and journaled from JSON
serialized once per route, requests are parsed once per distinct body, and the
response is spliced from a view serialized once per route: each quote must
still be stored, journaled and answered exactly as the plain serialization of
that quote would be.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aggregator.api.schemas import QuoteRequestBody
from aggregator.api.views import quote_view
from aggregator.journal.events import quote_events
from aggregator.journal.outbox import decode_entry
from aggregator.models.quote import Quote
from tests.api.conftest import ServiceThread

pytestmark = [pytest.mark.devnet]

BODY: dict[str, Any] = {
    "sell": {"asset": "USDC", "location": "alpha"},
    "buy": {"asset": "WETH", "location": "beta"},
    "amount": "250000000",
}


@pytest.fixture(scope="module")
def http(service: ServiceThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=30) as client:
        yield client


async def _journaled(ctx: Any, quote_id: str) -> list[Any]:
    """The outbox's latest events of quote ``quote_id``."""
    assert ctx.engine.outbox is not None
    entries = await ctx.redis.xrevrange(ctx.engine.outbox.key, count=20)
    events = [decode_entry(dict(fields or {})) for _, fields in entries or []]
    return [e for e in events if getattr(e, "quote_id", "") == quote_id]


def test_renewed_quotes_are_stored_and_journaled_as_themselves(service: ServiceThread) -> None:
    async def make() -> list[tuple[Quote, Quote, list[Any]]]:
        assert service.running is not None
        ctx = service.running.context
        request = ctx.quote_request(QuoteRequestBody.model_validate(BODY))
        made = []
        for firm in (False, False, False, True, True):
            quote = await ctx.engine.quote(request.model_copy(update={"firm": firm}))
            made.append((quote, await ctx.quotes.get(quote.id), await _journaled(ctx, quote.id)))
        return made

    made = service.run(make())
    assert len({quote.id for quote, _, _ in made}) == len(made)
    for quote, stored, journaled in made:
        assert stored == quote
        expected = quote_events(quote)
        expected = expected if quote.request.firm else expected[:1]
        assert sorted(journaled, key=lambda e: e.event_id) == sorted(
            expected, key=lambda e: e.event_id
        )


def test_answers_are_the_views_of_the_stored_quotes(http: httpx.Client) -> None:
    raw = json.dumps(BODY).encode()
    answers = []
    for _ in range(4):
        response = http.post(
            "/v1/quotes", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 201, response.text
        answers.append(response.json())
    assert len({a["id"] for a in answers}) == len(answers)
    for answer in answers:
        fetched = http.get(f"/v1/quotes/{answer['id']}")
        assert fetched.status_code == 200
        view = fetched.json()
        assert view["expired"] is False
        assert answer == view
        assert answer["amount_in"] == BODY["amount"]


def test_a_cached_request_body_is_not_mistaken_for_another(http: httpx.Client) -> None:
    first = http.post("/v1/quotes", json=BODY)
    other = http.post("/v1/quotes", json={**BODY, "amount": "500000000"})
    again = http.post("/v1/quotes", json=BODY)
    assert [r.status_code for r in (first, other, again)] == [201, 201, 201]
    assert first.json()["amount_in"] == again.json()["amount_in"] == "250000000"
    assert other.json()["amount_in"] == "500000000"
    bad = http.post("/v1/quotes", json={**BODY, "amount": "0"})
    assert bad.json()["code"] == "invalid_amount"


def test_a_view_spliced_from_the_route_equals_the_plain_view(service: ServiceThread) -> None:
    async def views() -> list[tuple[bytes, bytes]]:
        assert service.running is not None
        ctx = service.running.context
        request = ctx.quote_request(QuoteRequestBody.model_validate(BODY))
        pairs = []
        for _ in range(3):
            quote = await ctx.engine.quote(request)
            now = quote.created_ns + 1
            plain = quote_view(quote, now)
            pairs.append((ctx.views.body(quote, now), plain.model_dump_json().encode()))
        return pairs

    for spliced, plain in service.run(views()):
        assert json.loads(spliced) == json.loads(plain)


def test_quotes_stored_by_reference_are_stored_and_journaled_as_themselves(
    service: ServiceThread,
) -> None:
    async def make() -> tuple[list[tuple[Quote, Quote, list[Any]]], list[bool], int]:
        assert service.running is not None
        ctx = service.running.context
        # an amount no other test asks for: a route of its own
        body = {**BODY, "amount": "250000077"}
        request = ctx.quote_request(QuoteRequestBody.model_validate(body))
        made, sent_route = [], []
        for _ in range(3):
            quote = ctx.engine.route(ctx.engine.current(), request)
            stored = ctx.engine.by_reference(quote)
            assert stored is not None  # a renewed route, not firm: stored by reference
            sent_route.append(stored.sends_route)
            replies = await ctx.limiter.take_then_lua(
                "quote", "direct", ctx.settings.api.quote_rate, stored.lua, stored.args
            )
            await stored.admitted(replies, ctx.batcher)
            made.append((quote, await ctx.quotes.get(quote.id), await _journaled(ctx, quote.id)))
        routes = [k async for k in ctx.redis.scan_iter(match="quote:route:*")]
        return made, sent_route, len(routes)

    made, sent_route, routes = service.run(make())
    for quote, stored, journaled in made:
        assert stored == quote
        assert journaled == quote_events(quote)[:1]
    if len({quote.snapshot_ns for quote, _, _ in made}) == 1:
        # one route: sent with the first quote only, and stored once
        assert sent_route == [True, False, False]
    assert routes >= 1


def test_a_route_lost_from_redis_is_stored_again_before_its_quote_is_answered(
    service: ServiceThread,
) -> None:
    async def make() -> list[tuple[Quote, Quote]]:
        assert service.running is not None
        ctx = service.running.context
        request = ctx.quote_request(QuoteRequestBody.model_validate(BODY))
        made = []
        for _ in range(3):
            quote = ctx.engine.route(ctx.engine.current(), request)
            stored = ctx.engine.by_reference(quote)
            assert stored is not None
            # Redis loses every route (a restart or a flush) just before each quote
            async for key in ctx.redis.scan_iter(match="quote:route:*"):
                await ctx.redis.delete(key)
            replies = await ctx.limiter.take_then_lua(
                "quote", "lost", ctx.settings.api.quote_rate, stored.lua, stored.args
            )
            await stored.admitted(replies, ctx.batcher)
            made.append((quote, await ctx.quotes.get(quote.id)))
        return made

    for quote, stored in service.run(make()):
        assert stored == quote
