"""Venue configuration: exact markets only, typed errors, environment overrides, accounts."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from aggregator.errors import ConfigError
from aggregator.exchange.config import balances_to_units, load_accounts, load_venue_config
from aggregator.exchange.units import SymbolSpec, format_units
from tests.exchange.specs import CONFIG_PATH


def spec(**overrides: object) -> SymbolSpec:
    args: dict[str, object] = {
        "symbol": "WBTCUSDC",
        "base": "WBTC",
        "quote": "USDC",
        "base_decimals": 8,
        "quote_decimals": 6,
        "tick_size": Decimal("0.01"),
        "step_size": Decimal("0.0001"),
        "min_qty": Decimal("0.0001"),
        "max_qty": Decimal("100"),
        "min_notional": Decimal("1"),
        "max_notional": Decimal("1000000"),
        "max_price": Decimal("1000000"),
    }
    args.update(overrides)
    return SymbolSpec.create(**args)  # type: ignore[arg-type]


def test_a_market_whose_trade_values_would_not_be_whole_units_is_refused() -> None:
    assert spec().quote_units_per_lot_tick == 1
    with pytest.raises(ConfigError, match="step_size \\* tick_size"):
        spec(step_size=Decimal("0.00001"))  # 0.00001 * 0.01 * 10**6 = 0.1 unit
    with pytest.raises(ConfigError, match="step_size"):
        spec(step_size=Decimal("0.000000001"))  # finer than a satoshi
    with pytest.raises(ConfigError, match="min_qty"):
        spec(min_qty=Decimal("0.00015"))


def test_the_shipped_config_loads_and_the_environment_overrides_fields(tmp_path: Path) -> None:
    config = load_venue_config(CONFIG_PATH, environ={})
    assert [s.symbol for s in config.symbols] == ["WETHUSDC", "WBTCUSDC", "WBTCWETH"]
    assert config.assets == {"USDC": 6, "WETH": 18, "WBTC": 8}
    refs = {m.symbol: m.reference_price for m in config.market_maker.markets}
    assert refs == {"WETHUSDC": 3000, "WBTCUSDC": 60000, "WBTCWETH": 20}
    env = {
        "AGGREGATOR_VENUE__MARKET_MAKER__SEED": "11",
        "AGGREGATOR_VENUE__FEES__TAKER_BPS": "4",
        "AGGREGATOR_VENUE__RATE_LIMITS__ORDERS": "9",
    }
    changed = load_venue_config(CONFIG_PATH, environ=env)
    assert changed.market_maker.seed == 11
    assert changed.fees.taker_bps == 4 and changed.rate_limits.orders == 9
    broken = tmp_path / "venue.toml"
    broken.write_text(
        CONFIG_PATH.read_text().replace('tick_size = "0.01"', 'tick_size = "0.001"', 1)
    )
    with pytest.raises(ConfigError):
        load_venue_config(broken, environ={})
    with pytest.raises(ConfigError):
        load_venue_config(tmp_path / "missing.toml", environ={})


def test_accounts_file_balances_become_exact_base_units(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(
        json.dumps(
            [
                {
                    "name": "t",
                    "api_key": "k",
                    "api_secret": "hunter2-secret",
                    "balances": {"WETH": "1.5"},
                }
            ]
        )
    )
    (account,) = load_accounts(path)
    assert account.api_secret.get_secret_value() == "hunter2-secret"
    assert "hunter2" not in repr(account)
    assert balances_to_units(account.balances, {"WETH": 18}) == {"WETH": 1_500_000_000_000_000_000}
    with pytest.raises(ConfigError):
        balances_to_units({"USDC": Decimal("0.0000001")}, {"USDC": 6})
    with pytest.raises(ConfigError):
        balances_to_units({"DOGE": Decimal(1)}, {"USDC": 6})
    path.write_text("{}")
    with pytest.raises(ConfigError):
        load_accounts(path)


def test_amounts_are_formatted_exactly_with_at_least_eight_places() -> None:
    assert format_units(1_500_000, 6) == "1.50000000"
    assert format_units(1, 18) == "0.000000000000000001"
    assert spec().format_price(300_001) == "3000.01000000"
    assert spec().format_qty(12_340_000) == "0.12340000"
