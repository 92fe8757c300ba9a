"""The quote's models built without validation are the models validation would build."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aggregator.models import AssetAt, Location, Quote, QuoteLeg, QuoteRequest
from aggregator.models.quote import Exclusion, ExclusionReason
from aggregator.router import Router
from aggregator.router.trusted import build, replaced
from tests.router.factory import at, book, ladder, pool, snapshot, units


def _leg_values() -> dict[str, Any]:
    where = Location.chain("alpha", 31_337)
    usdc = AssetAt(asset="USDC", location=where)
    weth = AssetAt(asset="WETH", location=where)
    return {
        "kind": "trade",
        "venue": "alpha-amm",
        "market_id": "alpha:WETHUSDC",
        "side": None,
        "location": where,
        "asset_in": usdc,
        "asset_out": weth,
        "amount_in": 1_000,
        "amount_out": 7,
        "share_bps": 10_000,
    }


def test_build_equals_model_construct_with_every_field() -> None:
    values = _leg_values()
    fast = build(QuoteLeg, **values)
    slow = QuoteLeg.model_construct(**values)
    assert fast == slow
    assert fast.model_fields_set == slow.model_fields_set == set(values)
    assert fast.model_dump_json() == slow.model_dump_json()
    assert QuoteLeg.model_validate(fast.model_dump()) == fast


def test_build_leaves_a_missing_field_to_its_default() -> None:
    fast = build(Exclusion, venue="clob", reason=ExclusionReason.NOT_USED)
    assert fast == Exclusion.model_construct(venue="clob", reason=ExclusionReason.NOT_USED)
    assert fast.market_id is None


def test_a_router_quote_validates_back_to_itself() -> None:
    bids, asks = ladder(Decimal(3000), 2, 100, units("WETH", 3))
    snap = snapshot(
        [
            pool("alpha", "WETH", "USDC", base_amount=1_000),
            pool("beta", "WETH", "USDC", base_amount=1_000, price=3_010),
            book("WETH", "USDC", bids, asks),
            pool("gamma", "WBTC", "USDC", base_amount=50),
        ]
    )
    request = QuoteRequest(
        sell=at("USDC", "alpha"), buy=at("WETH", "beta"), amount=units("USDC", 500_000)
    )
    quote = Router().quote(snap, request)
    assert len(quote.paths) > 1 and quote.excluded
    assert Quote.model_validate(quote.model_dump()) == quote
    assert Quote.model_validate_json(quote.model_dump_json()) == quote


def test_replaced_equals_model_copy_with_the_same_changes() -> None:
    leg = build(QuoteLeg, **_leg_values())
    changes = {"amount_in": 2_000, "share_bps": 5_000}
    copied = leg.model_copy(update=changes)
    swapped = replaced(leg, **changes)
    assert swapped == copied and swapped is not leg
    assert swapped.model_fields_set == copied.model_fields_set
    assert swapped.model_dump_json() == copied.model_dump_json()
    assert leg.amount_in == 1_000  # the original is left alone
    # a name that is no field is handed to model_copy, as if it were called directly
    odd = leg.model_copy(update={"unknown": 1})
    assert replaced(leg, unknown=1).model_dump() == odd.model_dump()
