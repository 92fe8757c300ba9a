"""Wire schemas parsed in one step into markets, books, balances and execution results."""

from __future__ import annotations

from decimal import Context, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.models import AssetRegistry, MarketKind, OrderBook, Side
from aggregator.plugins.protocol import ExecutionRequest
from connectors.offchain_venue.convert import (
    MarketSpec,
    balances_from_account,
    book_from_snapshot,
    market_specs,
    parse_scaled,
)
from connectors.offchain_venue.execution import result_from_order
from connectors.offchain_venue.schemas import (
    AccountInfo,
    CombinedDepthMessage,
    DepthSnapshot,
    ExchangeInfo,
    OrderResponse,
)

from .conftest import VENUE, diff_frames, resource_json, resource_text


def _units(text: str, decimals: int) -> int:
    value = Decimal(text) * 10**decimals
    assert value == value.to_integral_value()
    return int(value)


def test_exchange_info_becomes_markets_with_exact_filters(
    exchange_info: ExchangeInfo, registry: AssetRegistry
) -> None:
    specs, skipped = market_specs(exchange_info, registry, VENUE, fee_bps=7)
    raw = {s["symbol"]: s for s in resource_json("exchange_info.json")["symbols"]}
    assert [s.symbol for s in specs] == ["WETHUSDC", "WBTCUSDC", "WBTCWETH"]
    for spec in specs:
        market = spec.market
        filters = {f["filterType"]: f for f in raw[market.symbol]["filters"]}
        base_decimals = registry.decimals(raw[market.symbol]["baseAsset"])
        assert market.id == f"{VENUE}:{market.symbol}"
        assert market.kind is MarketKind.BOOK
        assert market.location.key == VENUE and not market.location.is_chain
        assert market.base.asset == raw[market.symbol]["baseAsset"]
        assert market.quote.asset == raw[market.symbol]["quoteAsset"]
        assert market.tick_size == Decimal(filters["PRICE_FILTER"]["tickSize"])
        assert market.lot_size == _units(filters["LOT_SIZE"]["stepSize"], base_decimals)
        assert market.min_size == _units(filters["LOT_SIZE"]["minQty"], base_decimals)
        assert market.fee_bps == 7
        assert spec.price(parse_scaled(filters["PRICE_FILTER"]["tickSize"], spec.price_scale)) == (
            market.tick_size
        )
    assert skipped["WETHWBTC"] == "status BREAK"
    assert "BNB" in skipped["BNBUSDC"]


def test_symbols_filter_keeps_only_the_named_markets(
    exchange_info: ExchangeInfo, registry: AssetRegistry
) -> None:
    specs, skipped = market_specs(exchange_info, registry, VENUE, symbols={"WBTCWETH"})
    assert [s.symbol for s in specs] == ["WBTCWETH"]
    assert skipped == {}


@pytest.mark.parametrize(
    ("resource", "symbol"),
    [("depth_snapshot_wethusdc.json", "WETHUSDC"), ("depth_snapshot_wbtcweth.json", "WBTCWETH")],
)
def test_depth_snapshot_becomes_an_exact_order_book(
    resource: str, symbol: str, specs: dict[str, MarketSpec]
) -> None:
    spec = specs[symbol]
    snapshot = DepthSnapshot.model_validate_json(resource_text(resource))
    book = book_from_snapshot(snapshot, spec, ts_recv=123)
    raw = resource_json(resource)
    assert isinstance(book, OrderBook)
    assert book.sequence == raw["lastUpdateId"]
    assert book.market_id == spec.market.id
    assert (book.base_decimals, book.quote_decimals) == (spec.base_decimals, spec.quote_decimals)
    for side, levels in (("bids", book.bids), ("asks", book.asks)):
        assert [(lvl.price, lvl.size) for lvl in levels] == [
            (Decimal(p), _units(q, spec.base_decimals)) for p, q in raw[side]
        ]
    assert not book.is_crossed


def test_diff_frames_parse_with_the_venues_field_names() -> None:
    for line in diff_frames():
        message = CombinedDepthMessage.model_validate_json(line)
        assert message.stream == "wethusdc@depth@100ms"
        assert message.data.e == "depthUpdate"
        assert message.data.s == "WETHUSDC"
        assert message.data.U <= message.data.u


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [
        ("3000.12000000", 2, 300012),
        ("0.00010000", 18, 10**14),
        ("5", 3, 5000),
        ("0.00000000", 8, 0),
        ("19.99911000", 5, 1999911),
    ],
)
def test_parse_scaled_is_exact(text: str, scale: int, expected: int) -> None:
    assert parse_scaled(text, scale) == expected


@pytest.mark.parametrize(
    ("text", "scale"),
    [("3000.125", 2), ("-1.0", 2), ("1e3", 2), ("", 2), (".5", 2), ("1_000", 0), ("1.2.3", 4)],
)
def test_parse_scaled_refuses_inexact_or_malformed_strings(text: str, scale: int) -> None:
    with pytest.raises(ValueError):
        parse_scaled(text, scale)


@given(st.integers(min_value=0, max_value=10**30), st.integers(0, 18), st.integers(0, 6))
def test_parse_scaled_round_trips_decimal_formatting(value: int, scale: int, pad: int) -> None:
    text = f"{Decimal(value).scaleb(-scale, context=Context(prec=100)):f}"
    if "." not in text and pad:
        text += "."
    text += "0" * pad if "." in text else ""
    assert parse_scaled(text, scale) == value


def test_account_balances_are_base_units_of_known_assets(registry: AssetRegistry) -> None:
    account = AccountInfo.model_validate_json(resource_text("account.json"))
    decimals = {a.symbol: a.decimals for a in registry.assets}
    balances = balances_from_account(account, decimals)
    raw = {b["asset"]: b for b in resource_json("account.json")["balances"]}
    assert set(balances) == {"USDC", "WETH", "WBTC"}
    for asset, balance in balances.items():
        assert balance.free == _units(raw[asset]["free"], decimals[asset])
        assert balance.locked == _units(raw[asset]["locked"], decimals[asset])


def test_full_order_response_becomes_exact_amounts_net_of_commission(
    specs: dict[str, MarketSpec], registry: AssetRegistry
) -> None:
    spec = specs["WETHUSDC"]
    response = OrderResponse.model_validate_json(resource_text("order_full_sell.json"))
    request = ExecutionRequest(
        market_id=spec.market.id,
        side=Side.SELL_BASE,
        amount_in=_units("0.5", 18),
        min_amount_out=0,
        client_id="leg-7f3a2c",
    )
    decimals = {a.symbol: a.decimals for a in registry.assets}
    result = result_from_order(request, spec, response, decimals, ts_recv=5)
    raw = resource_json("order_full_sell.json")
    quote = sum(_units(str(Decimal(f["price"]) * Decimal(f["qty"])), 6) for f in raw["fills"])
    commission = sum(_units(f["commission"], 6) for f in raw["fills"])
    assert quote == _units(raw["cummulativeQuoteQty"], 6)
    assert result.amount_in == _units(raw["executedQty"], 18)
    assert result.amount_out == quote - commission
    assert result.order_id == str(raw["orderId"])
    assert result.ts_event == raw["transactTime"] * 1_000_000
    assert [f.fee for f in result.fills] == [_units(f["commission"], 6) for f in raw["fills"]]
    assert all(f.fee_asset == "USDC" for f in result.fills)
    assert sum(f.base_amount for f in result.fills) == result.amount_in
