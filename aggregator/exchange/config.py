"""Configuration of the devnet exchange (``config/venue.toml``) and its accounts file.

The TOML file holds the assets, markets, fees, rate limits and market maker; environment
variables named ``AGGREGATOR_VENUE__SECTION__FIELD`` override single fields (values are
parsed as JSON when they parse, else taken as strings), e.g.
``AGGREGATOR_VENUE__MARKET_MAKER__SEED=11``. Accounts come from a separate JSON file
given on the command line::

    [{"name": "trader", "api_key": "...", "api_secret": "...",
      "balances": {"USDC": "1000000", "WETH": "100"}}]

with balances in human units.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic import ValidationError as PydanticValidationError

from aggregator.errors import ConfigError
from aggregator.exchange.orders import SelfTradePrevention
from aggregator.exchange.units import SymbolSpec, units_from_decimal

__all__ = [
    "AccountConfig",
    "FeeConfig",
    "MarketConfig",
    "MarketMakerConfig",
    "RateLimitConfig",
    "SymbolConfig",
    "VenueConfig",
    "balances_to_units",
    "load_accounts",
    "load_venue_config",
]

ENV_PREFIX = "AGGREGATOR_VENUE__"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SymbolConfig(_Frozen):
    """One market, with Binance's filter names."""

    symbol: str = Field(description="Market name on the wire, e.g. WETHUSDC.")
    base: str = Field(description="Base asset (what is bought or sold).")
    quote: str = Field(description="Quote asset (what prices are in).")
    tick_size: Decimal = Field(description="PRICE_FILTER tickSize, in quote per base.")
    step_size: Decimal = Field(description="LOT_SIZE stepSize (the lot), in base.")
    min_qty: Decimal = Field(description="LOT_SIZE minQty.")
    max_qty: Decimal = Field(description="LOT_SIZE maxQty.")
    max_price: Decimal = Field(description="PRICE_FILTER maxPrice.")
    min_notional: Decimal = Field(description="NOTIONAL minNotional, in quote.")
    max_notional: Decimal = Field(description="NOTIONAL maxNotional, in quote.")
    default_stp: SelfTradePrevention = Field(
        default=SelfTradePrevention.EXPIRE_MAKER,
        description="Self-trade prevention mode of orders that name none.",
    )


class FeeConfig(_Frozen):
    maker_bps: int = Field(default=0, ge=0, le=1000, description="Maker commission, bps.")
    taker_bps: int = Field(default=0, ge=0, le=1000, description="Taker commission, bps.")
    account: str = Field(default="fees", description="Account credited with commissions.")


class RateLimitConfig(_Frozen):
    """Request weight per client IP and new orders per API key, in fixed windows."""

    request_weight: int = Field(default=120_000, ge=1, description="Weight per window per IP.")
    request_window_s: int = Field(default=60, ge=1, description="Weight window, seconds.")
    orders: int = Field(default=50_000, ge=1, description="New orders per window per key.")
    orders_window_s: int = Field(default=10, ge=1, description="Order window, seconds.")


class MarketConfig(_Frozen):
    """The market maker's ladder on one symbol."""

    symbol: str = Field(description="Market to quote.")
    reference_price: Decimal = Field(gt=0, description="Anchor of the reference price walk.")
    levels: int = Field(default=30, ge=1, le=200, description="Resting orders per side.")
    first_offset_bps: Decimal = Field(
        default=Decimal(2), gt=0, description="Distance of the best quotes from the reference."
    )
    level_spacing_bps: Decimal = Field(
        default=Decimal(2), gt=0, description="Distance between consecutive levels."
    )
    min_size: Decimal = Field(gt=0, description="Smallest order size, base asset.")
    max_size: Decimal = Field(gt=0, description="Largest order size, base asset.")
    volatility_bps: float = Field(
        default=1.0, ge=0, description="Std. dev. of one step of the log reference, bps."
    )
    mean_reversion: float = Field(
        default=0.002, ge=0, le=1, description="Pull of each step back towards the anchor."
    )
    resize_probability: float = Field(
        default=0.1, ge=0, le=1, description="Chance per step that a level gets a new size."
    )


class MarketMakerConfig(_Frozen):
    enabled: bool = Field(default=True, description="Run the market maker with the server.")
    account: str = Field(default="market-maker", description="The maker's own account.")
    seed: int | None = Field(default=7, description="Seed of the walk; None: random.")
    min_interval_ms: int = Field(default=50, ge=1, description="Shortest pause between requotes.")
    max_interval_ms: int = Field(default=200, ge=1, description="Longest pause between requotes.")
    balances: dict[str, Decimal] = Field(
        default_factory=dict, description="Starting balances of the maker, human units."
    )
    markets: list[MarketConfig] = Field(default_factory=list, description="Quoted markets.")


class VenueConfig(_Frozen):
    assets: dict[str, int] = Field(description="Decimals of each asset, e.g. USDC = 6.")
    symbols: list[SymbolConfig] = Field(description="Markets.")
    fees: FeeConfig = Field(default_factory=FeeConfig)
    rate_limits: RateLimitConfig = Field(default_factory=RateLimitConfig)
    market_maker: MarketMakerConfig = Field(default_factory=MarketMakerConfig)
    order_history_per_account: int = Field(
        default=10_000, ge=1, description="Closed orders kept queryable per account."
    )
    max_recv_window_ms: int = Field(default=60_000, ge=1, description="Largest recvWindow.")
    ws_queue_size: int = Field(
        default=10_000, ge=1, description="Messages buffered per WebSocket before it is dropped."
    )

    @model_validator(mode="after")
    def _check(self) -> VenueConfig:
        self.specs()
        names = {s.symbol for s in self.symbols}
        for market in self.market_maker.markets:
            if market.symbol not in names:
                raise ValueError(f"market maker quotes unknown symbol {market.symbol}")
        return self

    def specs(self) -> list[SymbolSpec]:
        """The markets as exact integer specs (raises if one is not exact)."""
        specs = []
        for s in self.symbols:
            if s.base not in self.assets or s.quote not in self.assets:
                raise ConfigError(f"{s.symbol}: unknown asset")
            specs.append(
                SymbolSpec.create(
                    symbol=s.symbol,
                    base=s.base,
                    quote=s.quote,
                    base_decimals=self.assets[s.base],
                    quote_decimals=self.assets[s.quote],
                    tick_size=s.tick_size,
                    step_size=s.step_size,
                    min_qty=s.min_qty,
                    max_qty=s.max_qty,
                    min_notional=s.min_notional,
                    max_notional=s.max_notional,
                    max_price=s.max_price,
                    default_stp=s.default_stp.value,
                )
            )
        return specs


class AccountConfig(_Frozen):
    name: str = Field(min_length=1, description="Account name.")
    api_key: str = Field(min_length=1, description="Value of the X-MBX-APIKEY header.")
    api_secret: SecretStr = Field(description="HMAC-SHA256 key for signatures.")
    balances: dict[str, Decimal] = Field(default_factory=dict, description="Human units.")


def balances_to_units(
    balances: Mapping[str, Decimal], decimals: Mapping[str, int]
) -> dict[str, int]:
    """Human balances as base units; ConfigError for unknown assets or too many places."""
    out: dict[str, int] = {}
    for asset, amount in balances.items():
        if asset not in decimals:
            raise ConfigError(f"unknown asset {asset!r} in balances")
        units = units_from_decimal(amount, decimals[asset])
        if units is None or units < 0:
            raise ConfigError(f"balance {amount} {asset} is not a whole number of base units")
        out[asset] = units
    return out


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        try:
            node[path[-1]] = json.loads(raw)
        except json.JSONDecodeError:
            node[path[-1]] = raw


def load_venue_config(path: str | Path, environ: Mapping[str, str] | None = None) -> VenueConfig:
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read venue config {path}: {exc}") from exc
    _apply_env(data, os.environ if environ is None else environ)
    try:
        return VenueConfig.model_validate(data)
    except PydanticValidationError as exc:
        raise ConfigError(f"invalid venue config {path}: {exc}") from exc


def load_accounts(path: str | Path) -> list[AccountConfig]:
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read accounts file {path}: {exc}") from exc
    if not isinstance(raw, list):
        raise ConfigError(f"accounts file {path} must hold a JSON list")
    try:
        return [AccountConfig.model_validate(item) for item in raw]
    except PydanticValidationError as exc:
        raise ConfigError(f"invalid accounts file {path}: {exc}") from exc
