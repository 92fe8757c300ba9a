"""Units: base-unit integer amounts and integer-nanosecond timestamps.

Amounts are always integers in the token's smallest unit. Prices are
``Decimal`` (quote per base, in whole-token units) and only appear at the
edges: display, limits, ladders.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import NewType

__all__ = [
    "BPS",
    "BaseUnits",
    "Nanos",
    "Wei",
    "from_base_units",
    "now_ns",
    "to_base_units",
]

BaseUnits = NewType("BaseUnits", int)
"""An amount of a token in its smallest unit."""

Wei = NewType("Wei", int)
"""An amount of a chain's native coin in wei."""

Nanos = NewType("Nanos", int)
"""A timestamp or duration in integer nanoseconds."""

BPS = 10_000
"""Basis points in one whole."""


def now_ns() -> int:
    """Wall-clock time in integer nanoseconds (for ``ts_recv``; never for timelocks)."""
    return time.time_ns()


def to_base_units(amount: Decimal | str | int, decimals: int) -> int:
    """Convert a whole-token amount to base units; refuses anything not exact."""
    value = Decimal(amount) * (Decimal(10) ** decimals)
    integral = value.to_integral_value()
    if integral != value:
        raise ValueError(f"{amount} has more than {decimals} decimals")
    return int(integral)


def from_base_units(amount: int, decimals: int) -> Decimal:
    """Convert base units to an exact whole-token ``Decimal``."""
    return Decimal(amount).scaleb(-decimals)
