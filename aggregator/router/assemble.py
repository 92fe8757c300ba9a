"""Assembling the quote from an exactly executed split (no validation: amounts are exact)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from aggregator.models.ids import random_id
from aggregator.models.quote import (
    CostBreakdown,
    Exclusion,
    Quote,
    QuoteLeg,
    QuoteMode,
    QuotePath,
    QuoteRequest,
    SettlementPlan,
)
from aggregator.models.units import BPS
from aggregator.router.execution import ExactRun
from aggregator.router.prepared import PreparedSnapshot, RoutePath
from aggregator.router.trusted import build

__all__ = ["Fill", "assemble", "legs_of"]

_CENT = Decimal("0.01")


@dataclass(slots=True)
class Fill:
    """An exactly executed route choice: route index -> legs, with its costs."""

    run: ExactRun
    members: list[int]
    gas: int
    amount_in: int
    gross_out: int

    @property
    def net_out(self) -> int:
        return self.gross_out - self.gas


def legs_of(fill: Fill) -> list[list[tuple[int, int]]]:
    return [legs for legs in fill.run.legs if legs]


def assemble(
    *,
    prep: PreparedSnapshot,
    request: QuoteRequest,
    routes: list[RoutePath],
    fill: Fill,
    amount_out: int,
    single: int,
    costs: CostBreakdown,
    settlement: SettlementPlan,
    excluded: tuple[Exclusion, ...],
    created: int,
    expires: int,
    compute_ns: int,
) -> Quote:
    amount_in = fill.amount_in
    legs_by_path = legs_of(fill)
    shares = _shares([legs[0][0] for legs in legs_by_path])
    paths = []
    mid_out = 0.0
    for j, legs, share in zip(fill.members, legs_by_path, shares, strict=True):
        route = routes[j]
        mid_out += legs[0][0] * route.mid_rate
        quote_legs = tuple(
            build(
                QuoteLeg,
                kind=hop.kind.value,
                venue=hop.venue,
                market_id=hop.market_id,
                side=hop.side,
                location=hop.location,
                asset_in=hop.asset_in,
                asset_out=hop.asset_out,
                amount_in=leg_in,
                amount_out=leg_out,
                share_bps=share,
            )
            for hop, (leg_in, leg_out) in zip(route.hops, legs, strict=True)
        )
        paths.append(
            build(
                QuotePath,
                legs=quote_legs,
                amount_in=legs[0][0],
                amount_out=legs[-1][1],
                share_bps=share,
            )
        )
    decimals = prep.decimals
    price = (Decimal(amount_out) / Decimal(amount_in)).scaleb(
        decimals[request.sell.asset] - decimals[request.buy.asset]
    )
    impact = (mid_out - fill.gross_out) / mid_out * BPS if mid_out > 0 else 0.0
    improvement = (amount_out - single) / single * BPS if single > 0 else 0.0
    return build(
        Quote,
        id=random_id(),
        request=request,
        amount_in=amount_in,
        amount_out=amount_out,
        min_amount_out=(
            amount_out * (BPS - request.slippage_bps) // BPS
            if request.mode is QuoteMode.EXACT_IN
            else amount_out
        ),
        effective_price=price,
        price_impact_bps=Decimal(repr(round(impact, 2))).quantize(_CENT),
        paths=tuple(paths),
        costs=costs,
        settlement=settlement,
        best_single_path_out=single,
        improvement_bps=Decimal(repr(round(improvement, 2))).quantize(_CENT),
        excluded=excluded,
        created_ns=created,
        expires_ns=expires,
        snapshot_ns=prep.snapshot.ts_recv,
        compute_ns=compute_ns,
    )


def _shares(amounts: list[int]) -> list[int]:
    """Basis-point shares of ``amounts`` that add up to exactly 10 000."""
    total = sum(amounts)
    shares = [a * BPS // total for a in amounts]
    if shares:
        shares[max(range(len(shares)), key=lambda i: amounts[i])] += BPS - sum(shares)
    return shares
