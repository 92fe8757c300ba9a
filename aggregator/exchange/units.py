"""Exact unit arithmetic for the exchange's markets.

Inside the engine a price is an integer number of ticks and a quantity an integer number
of the base asset's base units (always a multiple of the lot, ``step_size`` in base
units). A quote amount in the quote asset's base units is then

    quote_units = (qty_units // lot_units) * price_ticks * quote_units_per_lot_tick
    quote_units_per_lot_tick = step_size * tick_size * 10**quote_decimals

and a market is only accepted when ``quote_units_per_lot_tick`` is a whole number, so every
trade value is exact and nothing is ever rounded. (WETHUSDC: step 0.0001 WETH, tick 0.01
USDC, USDC has 6 decimals: 0.0001 * 0.01 * 10**6 = 1 unit per lot-tick.)

The only roundings the exchange makes are its fees, rounded up to the next base unit of
the asset received (in the venue's favour), and the quantity of a ``quoteOrderQty``
market order, which buys or sells whole lots only (the unspent part of the quote budget
stays with the trader).

On the wire prices, quantities and balances are decimal strings in human units, as
Binance sends them: at least eight places, more when the asset or filter needs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from aggregator.errors import ConfigError
from aggregator.exchange.errors import BadParameterError, FilterFailureError

__all__ = [
    "SymbolSpec",
    "decimal_places",
    "format_decimal",
    "format_units",
    "units_from_decimal",
]


def decimal_places(value: Decimal) -> int:
    """Number of digits after the point needed to write ``value`` exactly."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def format_decimal(value: Decimal, places: int) -> str:
    """``value`` with at least eight and at least ``places`` digits after the point."""
    return f"{value:.{max(8, places, decimal_places(value))}f}"


def format_units(units: int, decimals: int) -> str:
    """An integer amount of base units as an exact human decimal string."""
    return format_decimal(Decimal(units).scaleb(-decimals), decimals)


def units_from_decimal(value: Decimal, decimals: int) -> int | None:
    """``value`` in base units, or None when it has more places than the asset has."""
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def _whole(value: Decimal, what: str) -> int:
    if value != value.to_integral_value():
        raise ConfigError(f"{what} must be a whole number of base units, got {value}")
    return int(value)


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One market's assets, filters and the exact integer conversions derived from them."""

    symbol: str
    base: str
    quote: str
    base_decimals: int
    quote_decimals: int
    tick_size: Decimal
    step_size: Decimal
    min_price: Decimal
    max_price: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    default_stp: str
    lot_units: int
    quote_units_per_lot_tick: int
    min_price_ticks: int
    max_price_ticks: int
    min_qty_units: int
    max_qty_units: int
    min_notional_units: int
    max_notional_units: int

    @classmethod
    def create(
        cls,
        *,
        symbol: str,
        base: str,
        quote: str,
        base_decimals: int,
        quote_decimals: int,
        tick_size: Decimal,
        step_size: Decimal,
        min_qty: Decimal,
        max_qty: Decimal,
        min_notional: Decimal,
        max_notional: Decimal,
        max_price: Decimal,
        default_stp: str = "EXPIRE_MAKER",
        min_price: Decimal | None = None,
    ) -> SymbolSpec:
        """Validate a market so that all its amounts are exact integers; ConfigError if not."""
        if tick_size <= 0 or step_size <= 0:
            raise ConfigError(f"{symbol}: tick_size and step_size must be positive")
        lot_units = _whole(step_size.scaleb(base_decimals), f"{symbol} step_size")
        per_lot_tick = _whole(
            step_size * tick_size.scaleb(quote_decimals), f"{symbol} step_size * tick_size"
        )
        low = tick_size if min_price is None else min_price
        for name, value, unit in (
            ("min_price", low, tick_size),
            ("max_price", max_price, tick_size),
            ("min_qty", min_qty, step_size),
            ("max_qty", max_qty, step_size),
        ):
            if value <= 0 or value % unit != 0:
                raise ConfigError(f"{symbol}: {name} must be a positive multiple of its step")
        return cls(
            symbol=symbol,
            base=base,
            quote=quote,
            base_decimals=base_decimals,
            quote_decimals=quote_decimals,
            tick_size=tick_size,
            step_size=step_size,
            min_price=low,
            max_price=max_price,
            min_qty=min_qty,
            max_qty=max_qty,
            min_notional=min_notional,
            max_notional=max_notional,
            default_stp=default_stp,
            lot_units=lot_units,
            quote_units_per_lot_tick=per_lot_tick,
            min_price_ticks=int(low / tick_size),
            max_price_ticks=int(max_price / tick_size),
            min_qty_units=_whole(min_qty.scaleb(base_decimals), f"{symbol} min_qty"),
            max_qty_units=_whole(max_qty.scaleb(base_decimals), f"{symbol} max_qty"),
            min_notional_units=_whole(
                min_notional.scaleb(quote_decimals), f"{symbol} min_notional"
            ),
            max_notional_units=_whole(
                max_notional.scaleb(quote_decimals), f"{symbol} max_notional"
            ),
        )

    # -- integer arithmetic ------------------------------------------------------------

    def quote_units(self, qty_units: int, price_ticks: int) -> int:
        """Exact value in quote base units of ``qty_units`` at ``price_ticks``."""
        return (qty_units // self.lot_units) * price_ticks * self.quote_units_per_lot_tick

    # -- wire conversions (raise the exchange's filter errors) --------------------------

    def price_ticks(self, price: Decimal) -> int:
        """A wire price as ticks; PRICE_FILTER failure when off-tick or out of range."""
        ticks, rest = divmod(price, self.tick_size)
        if rest != 0 or not self.min_price_ticks <= ticks <= self.max_price_ticks:
            raise FilterFailureError("PRICE_FILTER")
        return int(ticks)

    def qty_units(self, qty: Decimal, filter_type: str = "LOT_SIZE") -> int:
        """A wire quantity as base units; LOT_SIZE failure when off-step or out of range."""
        units = units_from_decimal(qty, self.base_decimals)
        if (
            units is None
            or units % self.lot_units != 0
            or not self.min_qty_units <= units <= self.max_qty_units
        ):
            raise FilterFailureError(filter_type)
        return units

    def quote_amount_units(self, amount: Decimal) -> int:
        """A wire quote amount (``quoteOrderQty``) as quote base units."""
        units = units_from_decimal(amount, self.quote_decimals)
        if units is None:
            raise BadParameterError(
                "Precision is over the maximum defined for this asset.", venue_code=-1111
            )
        if units <= 0:
            raise BadParameterError(
                "Illegal characters found in parameter 'quoteOrderQty'.", venue_code=-1100
            )
        return units

    def format_price(self, ticks: int) -> str:
        return format_decimal(ticks * self.tick_size, decimal_places(self.tick_size))

    def format_qty(self, units: int) -> str:
        """A quantity (a whole number of lots) with the step's places, at least eight."""
        return format_decimal(
            Decimal(units).scaleb(-self.base_decimals), decimal_places(self.step_size)
        )

    def format_quote(self, units: int) -> str:
        return format_units(units, self.quote_decimals)
