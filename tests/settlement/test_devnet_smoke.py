"""One swap end to end on the devnet (quick signal before the larger suites)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from aggregator.client.trader import TraderOutcome
from aggregator.devnet.manifest import DevnetManifest
from aggregator.settlement.swap import SwapPhase
from tests.settlement.harness import settlement_stack
from tests.settlement.quotes import fixed_rate_quote


async def test_one_swap_delivers_the_quoted_output(
    devnet: DevnetManifest, redis_url: str, tmp_path: Path
) -> None:
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        await stack.start_coordinator()
        trader = devnet.accounts.trader.address
        before = await stack.token_balance("beta", "WETH", trader)
        quote = await stack.put(fixed_rate_quote(amount_in=3_000_000_000, rate=Decimal("0.00033")))
        result = await stack.trader.swap(quote, stack.service)
        assert result.outcome is TraderOutcome.CLAIMED
        after = await stack.token_balance("beta", "WETH", trader)
        assert after - before == quote.amount_out
        [swap] = await stack.wait_terminal([result.ticket.swap.id])
        assert swap.phase is SwapPhase.COMPLETED
