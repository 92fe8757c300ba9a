"""Exact integer pool reserves for a target price and depth.

A pool of ``base``/``quote`` on a chain with offset ``o`` basis points is priced at

    reference_usd(base) / reference_usd(quote) * (1 + o / 10000)   quote per whole base

and each side is worth about ``depth_usd`` at reference prices. The reserves are
integers in base units whose ratio equals that price *exactly*: with the price
per base unit reduced to ``n / d``, the reserves are ``k * d`` (base) and
``k * n`` (quote) for the largest ``k`` that keeps the quote side within the
target depth.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

from aggregator.devnet.config import AssetConfig
from aggregator.errors import ConfigError

__all__ = ["SeedReserves", "pool_price", "seed_reserves"]


class SeedReserves(NamedTuple):
    """Initial pool reserves in base units."""

    base: int
    quote: int


def pool_price(base: AssetConfig, quote: AssetConfig, offset_bps: int) -> Fraction:
    """Exact price of one whole ``base`` in whole ``quote`` on a chain with this offset."""
    reference = Fraction(base.reference_price_usd) / Fraction(quote.reference_price_usd)
    return reference * Fraction(10_000 + offset_bps, 10_000)


def seed_reserves(
    base: AssetConfig, quote: AssetConfig, offset_bps: int, depth_usd: int
) -> SeedReserves:
    """Reserves whose ratio is exactly :func:`pool_price`, each side worth about ``depth_usd``."""
    per_base_unit = (
        pool_price(base, quote, offset_bps) * 10**quote.decimals / Fraction(10**base.decimals)
    )
    numerator, denominator = per_base_unit.numerator, per_base_unit.denominator
    target_quote = Fraction(depth_usd) / Fraction(quote.reference_price_usd) * 10**quote.decimals
    k = int(target_quote // numerator)
    if k < 1:
        raise ConfigError(
            "pool depth too small for an exact price",
            pool=f"{base.symbol}/{quote.symbol}",
            depth_usd=depth_usd,
        )
    return SeedReserves(base=k * denominator, quote=k * numerator)
