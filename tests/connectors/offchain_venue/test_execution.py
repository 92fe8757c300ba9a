"""Order planning: limit prices and quantities from an execution request, exactly."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.errors import VenueRejectedError
from aggregator.models import BPS, Side
from aggregator.plugins.protocol import ExecutionRequest
from connectors.offchain_venue.convert import MarketSpec, book_from_snapshot, parse_scaled
from connectors.offchain_venue.execution import client_order_id, plan_order
from connectors.offchain_venue.schemas import DepthSnapshot

from .conftest import resource_text


def _request(
    side: Side, amount_in: int, min_out: int, limit: Decimal | None = None
) -> ExecutionRequest:
    return ExecutionRequest(
        market_id="clob:WETHUSDC",
        side=side,
        amount_in=amount_in,
        min_amount_out=min_out,
        limit_price=limit,
        client_id="leg-1",
    )


def _net(gross: int, fee_bps: int) -> int:
    return gross - (gross * fee_bps + BPS - 1) // BPS


def _quote_units(price: Decimal, base_units: int, spec: MarketSpec) -> Fraction:
    return Fraction(price) * base_units * Fraction(10**spec.quote_decimals, 10**spec.base_decimals)


@settings(max_examples=200, deadline=None)
@given(
    lots=st.integers(1, 10**6),
    dust=st.integers(0, 10**14 - 1),
    price_cents=st.integers(1, 10**9),
)
def test_sell_limit_is_the_lowest_tick_that_meets_the_minimum(
    specs: dict[str, MarketSpec], lots: int, dust: int, price_cents: int
) -> None:
    spec = specs["WETHUSDC"]
    market = spec.market
    amount_in = lots * market.lot_size + dust
    quantity = lots * market.lot_size
    min_out = int(_quote_units(Decimal(price_cents) / 100, quantity, spec)) or 1
    plan = plan_order(_request(Side.SELL_BASE, amount_in, min_out), spec, None)
    assert plan.side == "SELL" and plan.quantity == quantity
    assert plan.price % market.tick_size == 0
    proceeds = _net(int(_quote_units(plan.price, quantity, spec)), market.fee_bps)
    assert proceeds >= min_out
    value = _quote_units(plan.price, quantity, spec) / 10**spec.quote_decimals
    assert value >= spec.min_notional
    lower = plan.price - market.tick_size
    if lower > 0:
        lower_value = _quote_units(lower, quantity, spec)
        # One tick lower misses the minimum output, or the venue's minimum notional.
        assert (
            _net(int(lower_value), market.fee_bps) < min_out
            or lower_value / 10**spec.quote_decimals < spec.min_notional
        )


@settings(max_examples=200, deadline=None)
@given(amount_in=st.integers(10**6, 10**13), min_lots=st.integers(1, 10**5))
def test_buy_limit_and_quantity_buy_at_least_the_minimum_within_the_budget(
    specs: dict[str, MarketSpec], amount_in: int, min_lots: int
) -> None:
    spec = specs["WETHUSDC"]
    market = spec.market
    min_out = min_lots * market.lot_size - 1
    request = _request(Side.BUY_BASE, amount_in, min_out)
    try:
        plan = plan_order(request, spec, None)
    except VenueRejectedError:
        # Only when even the smallest tick cannot buy the minimum with this budget.
        assert _quote_units(market.tick_size, min_out, spec) > amount_in
        return
    assert plan.side == "BUY" and plan.quantity % market.lot_size == 0
    assert plan.price % market.tick_size == 0
    assert _net(plan.quantity, market.fee_bps) >= min_out
    assert _quote_units(plan.price, plan.quantity, spec) <= amount_in
    higher = plan.price + market.tick_size
    affordable = int(amount_in / _quote_units(higher, 1, spec))
    affordable -= affordable % market.lot_size
    assert _net(affordable, market.fee_bps) < min_out


def test_explicit_limits_round_towards_safety(specs: dict[str, MarketSpec]) -> None:
    spec = specs["WETHUSDC"]
    sell = plan_order(_request(Side.SELL_BASE, 10**18, 0, Decimal("2999.401")), spec, None)
    buy = plan_order(_request(Side.BUY_BASE, 10**10, 0, Decimal("2999.409")), spec, None)
    assert sell.price == Decimal("2999.41")
    assert buy.price == Decimal("2999.40")


def test_sell_without_limit_or_minimum_accepts_any_price_the_venue_allows(
    specs: dict[str, MarketSpec],
) -> None:
    spec = specs["WETHUSDC"]
    assert spec.min_notional > 0
    big = plan_order(_request(Side.SELL_BASE, 10**22, 0), spec, None)
    assert big.price == spec.min_price
    # A small order's lowest limit is where its value reaches the minimum notional.
    small = plan_order(_request(Side.SELL_BASE, spec.market.lot_size * 3, 0), spec, None)
    value = _quote_units(small.price, small.quantity, spec) / 10**spec.quote_decimals
    below = _quote_units(small.price - spec.market.tick_size, small.quantity, spec)
    assert value >= spec.min_notional > below / 10**spec.quote_decimals


def test_buy_without_limit_reaches_the_deepest_ask_the_budget_needs(
    specs: dict[str, MarketSpec],
) -> None:
    spec = specs["WETHUSDC"]
    snapshot = DepthSnapshot.model_validate_json(resource_text("depth_snapshot_wethusdc.json"))
    book = book_from_snapshot(snapshot, spec, 0)
    first, second = book.asks[0], book.asks[1]
    budget = int(_quote_units(first.price, first.size, spec)) + 1
    plan = plan_order(_request(Side.BUY_BASE, budget, 0), spec, book)
    assert plan.price == second.price
    with pytest.raises(VenueRejectedError):
        plan_order(_request(Side.BUY_BASE, budget, 0), spec, None)


def test_less_than_one_lot_is_refused_before_sending(specs: dict[str, MarketSpec]) -> None:
    spec = specs["WETHUSDC"]
    with pytest.raises(VenueRejectedError):
        plan_order(_request(Side.SELL_BASE, spec.market.lot_size - 1, 0), spec, None)


def test_order_params_are_exact_wire_strings(specs: dict[str, MarketSpec]) -> None:
    spec = specs["WETHUSDC"]
    plan = plan_order(_request(Side.SELL_BASE, 123_456_789_012_345_678, 1), spec, None)
    params = dict(plan.params(spec))
    assert params["type"] == "LIMIT" and params["timeInForce"] == "IOC"
    assert params["newOrderRespType"] == "FULL"
    assert parse_scaled(params["quantity"], spec.base_decimals) == plan.quantity
    assert Decimal(params["price"]) == plan.price
    assert "E" not in params["quantity"] + params["price"]


def test_client_ids_outside_the_venue_alphabet_become_a_stable_digest() -> None:
    assert client_order_id("leg-1") == "leg-1"
    odd = client_order_id("swap 42 / leg #3 with spaces and a very long suffix")
    assert odd == client_order_id("swap 42 / leg #3 with spaces and a very long suffix")
    assert len(odd) <= 36 and odd.startswith("x-")
