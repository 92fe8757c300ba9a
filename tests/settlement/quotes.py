"""A fixed-rate quote, built in the tests where no router is involved."""

from __future__ import annotations

import uuid
from decimal import ROUND_FLOOR, Decimal

from aggregator.models import (
    AssetAt,
    CostBreakdown,
    Location,
    Quote,
    QuoteLeg,
    QuotePath,
    QuoteRequest,
    SettlementPlan,
)
from aggregator.models.units import now_ns

DECIMALS = {"USDC": 6, "WETH": 18, "WBTC": 8}
CHAIN_IDS = {"alpha": 31001, "beta": 31002, "gamma": 31003}


def fixed_rate_quote(
    *,
    amount_in: int,
    rate: Decimal,
    sell: tuple[str, str] = ("USDC", "alpha"),
    buy: tuple[str, str] = ("WETH", "beta"),
    ttl_s: int = 30,
    timelocks: tuple[int, int] = (600, 300),
    chain_ids: dict[str, int] | None = None,
) -> Quote:
    """Sell ``amount_in`` base units at ``rate`` whole output units per whole input unit.

    One inventory transfer leg: the resolver fronts the output from its own
    inventory at the destination.
    """
    ids = chain_ids or CHAIN_IDS
    sell_at = AssetAt(asset=sell[0], location=Location.chain(sell[1], ids[sell[1]]))
    buy_at = AssetAt(asset=buy[0], location=Location.chain(buy[1], ids[buy[1]]))
    scale = Decimal(10) ** (DECIMALS[buy[0]] - DECIMALS[sell[0]])
    amount_out = int((Decimal(amount_in) * rate * scale).to_integral_value(rounding=ROUND_FLOOR))
    leg = QuoteLeg(
        kind="transfer",
        venue="inventory",
        location=buy_at.location,
        asset_in=sell_at,
        asset_out=buy_at,
        amount_in=amount_in,
        amount_out=amount_out,
        share_bps=10_000,
    )
    created = now_ns()
    return Quote(
        id=uuid.uuid4().hex,
        request=QuoteRequest(sell=sell_at, buy=buy_at, amount=amount_in, firm=True),
        amount_in=amount_in,
        amount_out=amount_out,
        min_amount_out=amount_out,
        effective_price=rate,
        price_impact_bps=Decimal(0),
        paths=(
            QuotePath(legs=(leg,), amount_in=amount_in, amount_out=amount_out, share_bps=10_000),
        ),
        costs=CostBreakdown(),
        settlement=SettlementPlan(
            source_chain=sell[1],
            source_chain_id=ids[sell[1]],
            destination_chain=buy[1],
            destination_chain_id=ids[buy[1]],
            source_timelock_s=timelocks[0],
            destination_timelock_s=timelocks[1],
            eta_s=5,
        ),
        best_single_path_out=amount_out,
        improvement_bps=Decimal(0),
        excluded=(),
        created_ns=created,
        expires_ns=created + ttl_s * 1_000_000_000,
        snapshot_ns=created,
    )
