"""The cost model: every cost of a route, in base units of the output asset.

* Gas: each chain touched (a trade at a chain location, the source chain of a
  transfer) spends ``gas units * (base fee + priority fee)`` wei of its native
  coin, converted through ``reference_prices`` (native asset -> common numeraire
  -> output asset) and rounded up.
* Settlement gas: the HTLC lock and claim on the source chain and on the
  destination chain, the same for every route of a request.
* Venue fees and transfer costs are already inside the legs' exact amounts
  (books and pools pay out net of their fee; a transfer delivers its input less
  ``transfer_cost.bps``). They are valued in the output asset for the breakdown
  only, as what the path's output would have been without them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from aggregator.market.snapshot import ChainState
from aggregator.models.units import BPS
from aggregator.router.config import RouterConfig
from aggregator.router.graph import Hop, HopKind

__all__ = [
    "GasPricing",
    "add_wei",
    "embedded_fee",
    "gas_pricing",
    "hop_gas_units",
    "path_gas_wei",
    "settlement_gas_wei",
]

WEI_PER_NATIVE = 10**18
"""EVM native coins have 18 decimals whatever asset they are priced as."""


@dataclass(frozen=True, slots=True)
class GasPricing:
    """Converts wei spent per chain into base units of ``out_asset``."""

    out_asset: str
    factors: Mapping[str, Fraction]
    """Chain key to output base units per wei."""
    unpriced: Mapping[str, str]
    """Chain key to why its gas cannot be valued (no chain state or reference price)."""
    ratios: Mapping[str, tuple[int, int]] = field(init=False)
    """``factors`` as (numerator, denominator), for integer arithmetic."""

    def __post_init__(self) -> None:
        ratios = {c: (f.numerator, f.denominator) for c, f in self.factors.items()}
        object.__setattr__(self, "ratios", ratios)

    def cost(self, wei_by_chain: Mapping[str, int]) -> int:
        """Exact cost, rounded up per chain; every chain must be priced."""
        total = 0
        ratios = self.ratios
        for chain, wei in wei_by_chain.items():
            if wei:
                num, den = ratios[chain]
                total -= -(num * wei) // den
        return total

    def estimate(self, wei_by_chain: Mapping[str, int]) -> float:
        return sum(float(self.factors[c]) * w for c, w in wei_by_chain.items() if w)

    def priced(self, chains: Iterable[str]) -> str | None:
        """None if every chain is priced, else the first reason one is not."""
        for chain in chains:
            if chain not in self.factors:
                return self.unpriced.get(chain, f"no chain state for {chain}")
        return None


def _fraction(value: Decimal) -> Fraction:
    num, den = value.as_integer_ratio()
    return Fraction(num, den)


def gas_pricing(
    chains: Mapping[str, ChainState],
    reference_prices: Mapping[str, Decimal],
    out_asset: str,
    out_decimals: int,
) -> GasPricing:
    """Output base units per wei for every chain whose gas can be valued."""
    factors: dict[str, Fraction] = {}
    unpriced: dict[str, str] = {}
    scale = Fraction(10**out_decimals, WEI_PER_NATIVE)
    out_price = reference_prices.get(out_asset)
    for key, chain in chains.items():
        native = chain.native_asset
        if native == out_asset:
            factors[key] = scale
            continue
        native_price = reference_prices.get(native)
        if chain.gas_price_wei == 0:
            factors[key] = Fraction(0)
        elif native_price is None or not out_price:
            missing = native if native_price is None else out_asset
            unpriced[key] = f"no reference price for {missing} to value gas on {key}"
        else:
            factors[key] = _fraction(native_price) / _fraction(out_price) * scale
    return GasPricing(out_asset=out_asset, factors=factors, unpriced=unpriced)


def hop_gas_units(hop: Hop, config: RouterConfig, transfer_gas: int) -> tuple[str, int] | None:
    """The chain a hop spends gas on and how many units, if any."""
    where = hop.gas_location
    if where is None:
        return None
    units = config.chain_trade_gas if hop.kind is HopKind.TRADE else transfer_gas
    return where.key, units


def path_gas_wei(
    hops: Iterable[Hop],
    chains: Mapping[str, ChainState],
    config: RouterConfig,
    transfer_gas: int,
) -> dict[str, int]:
    """Wei per chain spent by a path's legs (chains without a state are listed with 0)."""
    wei: dict[str, int] = {}
    for hop in hops:
        spent = hop_gas_units(hop, config, transfer_gas)
        if spent is None:
            continue
        chain, units = spent
        state = chains.get(chain)
        wei[chain] = wei.get(chain, 0) + (units * state.gas_price_wei if state else 0)
    return wei


def settlement_gas_wei(
    source: ChainState, destination: ChainState, config: RouterConfig
) -> dict[str, int]:
    """HTLC lock and claim on the source chain and on the destination chain."""
    units = config.htlc_lock_gas + config.htlc_claim_gas
    return add_wei(
        {source.key: units * source.gas_price_wei},
        {destination.key: units * destination.gas_price_wei},
    )


def add_wei(*parts: Mapping[str, int]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for chain, wei in part.items():
            total[chain] = total.get(chain, 0) + wei
    return total


def embedded_fee(amount_out: int, bps: int) -> int:
    """What a proportional cost of ``bps`` took from an ``amount_out`` paid net of it."""
    return amount_out * bps // (BPS - bps) if bps else 0
