"""The quote body spliced from a route's JSON tail equals the plain view, for many routes."""

from __future__ import annotations

import json

import pytest

from aggregator.api.views import QuoteViewCache, quote_view
from aggregator.errors import AggregatorError
from aggregator.models import QuoteMode
from aggregator.router import Router, RouterConfig
from tests.router.scenarios import scenarios


@pytest.mark.parametrize("mode", list(QuoteMode), ids=lambda m: m.value)
def test_spliced_body_equals_the_plain_view(mode: QuoteMode) -> None:
    cache = QuoteViewCache()
    checked = 0
    for s in scenarios(30, mode, first_seed=500):
        try:
            quote = Router(RouterConfig(hop_limit=s.hop_limit)).quote(s.snapshot, s.request)
        except AggregatorError:
            continue
        for now in (quote.created_ns, quote.expires_ns + 1):
            body = cache.body(quote, now)
            plain = quote_view(quote, now).model_dump_json()
            assert json.loads(body) == json.loads(plain)
        checked += 1
    assert checked >= 10
