"""Markets and engines shared by the exchange tests."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from aggregator.exchange.config import load_venue_config
from aggregator.exchange.engine import FeeSchedule, MatchingEngine
from aggregator.exchange.units import SymbolSpec

CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "venue.toml"

E6 = 10**6
E8 = 10**8
E18 = 10**18


def venue_specs() -> dict[str, SymbolSpec]:
    """The markets of the shipped config/venue.toml, by symbol."""
    return {s.symbol: s for s in load_venue_config(CONFIG_PATH, environ={}).specs()}


def new_engine(
    fees: FeeSchedule | None = None, history: int = 10_000, **balances: dict[str, int]
) -> MatchingEngine:
    engine = MatchingEngine(venue_specs().values(), fees=fees, history_per_account=history)
    for name, amounts in balances.items():
        engine.open_account(name, amounts)
    return engine


def price(spec: SymbolSpec, human: str) -> int:
    return spec.price_ticks(Decimal(human))


def qty(spec: SymbolSpec, human: str) -> int:
    return spec.qty_units(Decimal(human))
