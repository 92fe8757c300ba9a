"""Acceptance: Redis is killed and restarted empty in the middle of swaps.

The coordinator keeps running through the outage, finds Redis empty, rebuilds
every unfinished swap from the chains' HTLC events and completes them: the
delivered ones are claimed on the source chain with the preimage from the
trader's claim; one whose destination lock had not been sent (its quote is
gone with Redis) is refunded to the trader after T_A.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from aggregator.devnet.control import increase_time
from aggregator.devnet.manifest import DevnetManifest
from aggregator.settlement.swap import Reason, SwapPhase, TxKind
from tests.fixtures.processes import RedisServer
from tests.settlement.harness import settlement_stack
from tests.settlement.quotes import fixed_rate_quote

pytestmark = [pytest.mark.devnet, pytest.mark.slow]


async def test_swaps_complete_after_redis_restarts_empty(
    devnet_snapshot: DevnetManifest, redis_server: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    devnet = devnet_snapshot
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        # a trader of its own: after the loss, the rebuild also finds (and, past T_A,
        # refunds) whatever other tests left on the shared chains, to their traders
        stack.trader = await stack.fresh_trader(tmp_path / "fresh")
        trader = stack.trader.address
        await stack.start_coordinator()
        before = await stack.balances([trader])
        pairs = [("alpha", "beta"), ("beta", "gamma"), ("gamma", "alpha"), ("alpha", "gamma")]
        opened = []
        for i, (src, dst) in enumerate(pairs):
            quote = fixed_rate_quote(
                amount_in=1_000_000_000 + i,
                rate=Decimal("0.0003"),
                sell=("USDC", src),
                buy=("WETH", dst),
                timelocks=stack.plan(src, dst),
            )
            await stack.put(quote)
            entry, ticket = await stack.trader.open(quote, stack.service)
            await stack.trader.lock(ticket)
            opened.append((quote, entry.preimage, ticket))
        for _, _, ticket in opened:
            await stack.wait_phase(ticket.swap.id, [SwapPhase.DESTINATION_LOCKED])
        # one more swap is created, then Redis dies before the coordinator sees its lock
        late = fixed_rate_quote(
            amount_in=5_000_000_000, rate=Decimal("0.0003"), timelocks=stack.plan("alpha", "beta")
        )
        await stack.put(late)
        _, late_ticket = await stack.trader.open(late, stack.service)
        redis_server.stop()
        await stack.trader.lock(late_ticket)
        await asyncio.sleep(0.5)  # the coordinator keeps failing against a dead Redis
        redis_server.start()  # empty: no swaps, no nonces, no leases
        # the traders claim what was delivered; the coordinator must claim the sources
        for _, preimage, ticket in opened:
            receipt = await stack.trader.claim(ticket, preimage)
            assert receipt.status == 1
        swaps = await stack.wait_terminal([t.swap.id for _, _, t in opened])
        assert {s.phase for s in swaps} == {SwapPhase.COMPLETED}
        for swap in swaps:
            assert swap.quote_id is None  # rebuilt from chain events, not from Redis
            assert [t.kind for t in swap.txs] == [TxKind.SOURCE_CLAIM]
        rebuilt = await stack.service.get_swap(late_ticket.swap.id)
        assert rebuilt.phase is SwapPhase.AWAITING_SOURCE_REFUND
        assert rebuilt.notes[-1].reason is Reason.STATE_LOST
        left = late_ticket.lock.terms.timelock - await stack.chain_time("alpha")
        await increase_time(devnet.chain("alpha").rpc_url, left + 1)
        refunded = await stack.wait_phase(late_ticket.swap.id, [SwapPhase.REFUNDED])
        assert [t.kind for t in refunded.txs] == [TxKind.SOURCE_REFUND]
        after = await stack.balances([trader])
    for quote, _, _ in opened:
        sell, buy = quote.request.sell, quote.request.buy
        before[(sell.location.key, sell.asset, trader)] -= quote.amount_in
        before[(buy.location.key, buy.asset, trader)] += quote.amount_out
    assert after == before
