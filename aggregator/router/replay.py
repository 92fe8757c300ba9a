"""Replaying a quote's legs: what executing them, in order, yields by the integer formulas.

Used to check a quote against its snapshot and, on a devnet, against the pool
contracts themselves: :func:`amm_legs` lists every pool swap of a quote in
execution order with the exact input and the output the quote relies on, so a
test can send those swaps (in that order) and compare what the pools pay.
"""

from __future__ import annotations

from dataclasses import dataclass

from aggregator.market.snapshot import MarketSnapshot
from aggregator.models.liquidity import AmmCurve
from aggregator.models.market import Side
from aggregator.models.quote import Quote
from aggregator.router.exact import ExactAmm, ExactBook, ExactHop, ExactState, ExactTransfer
from aggregator.router.prepared import node_key

__all__ = ["AmmLeg", "amm_legs", "replay_outputs"]


@dataclass(frozen=True, slots=True)
class AmmLeg:
    """One pool swap of a quote, in execution order."""

    order: int
    """Position among all the quote's legs (path by path, leg by leg)."""
    market_id: str
    chain: str
    pool: str
    side: Side
    token_in: str
    """Canonical asset sent to the pool."""
    token_out: str
    amount_in: int
    amount_out: int
    """What the quote counts on; the pool must pay at least this when the swaps run in order
    from the snapshot's reserves."""


def amm_legs(quote: Quote, snapshot: MarketSnapshot) -> tuple[AmmLeg, ...]:
    """Every pool swap of ``quote`` in execution order."""
    out = []
    for order, leg in enumerate(quote.legs):
        if leg.kind != "trade" or leg.market_id is None or leg.side is None:
            continue
        liquidity = snapshot.liquidity.get(leg.market_id)
        if not isinstance(liquidity, AmmCurve):
            continue
        out.append(
            AmmLeg(
                order=order,
                market_id=leg.market_id,
                chain=leg.location.key,
                pool=liquidity.pool,
                side=leg.side,
                token_in=leg.asset_in.asset,
                token_out=leg.asset_out.asset,
                amount_in=leg.amount_in,
                amount_out=leg.amount_out,
            )
        )
    return tuple(out)


def replay_outputs(quote: Quote, snapshot: MarketSnapshot) -> list[int | None]:
    """Each leg's output when the legs run in order on the snapshot (None: cannot execute).

    Inventory is taken as unlimited: this checks prices, not capacity.
    """
    st = ExactState({})
    outputs: list[int | None] = []
    for leg in quote.legs:
        hop: ExactHop
        if leg.kind == "transfer":
            hop = ExactTransfer(node_key(leg.asset_out), snapshot.transfer_cost.bps)
            st.cap[hop.key] = leg.amount_in
        else:
            assert leg.market_id is not None and leg.side is not None
            liquidity = snapshot.liquidity[leg.market_id]
            sell = leg.side is Side.SELL_BASE
            if isinstance(liquidity, AmmCurve):
                hop = ExactAmm(
                    leg.market_id,
                    sell,
                    liquidity.reserve_base,
                    liquidity.reserve_quote,
                    liquidity.fee_bps,
                    0,
                )
            else:
                scale_q, scale_b = 10**liquidity.quote_decimals, 10**liquidity.base_decimals
                levels = []
                for price, size in liquidity.bids if sell else liquidity.asks:
                    num, den = price.as_integer_ratio()
                    levels.append((num * scale_q, den * scale_b, size))
                hop = ExactBook(
                    f"{leg.market_id}:{leg.side}",
                    sell,
                    levels,
                    liquidity.lot_size,
                    liquidity.fee_bps,
                    0,
                )
        outputs.append(hop.fwd(leg.amount_in, st))
    return outputs
