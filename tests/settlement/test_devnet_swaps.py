"""Acceptance: twenty swaps across pairs and chain pairs, priced by the router, each
delivering exactly the quoted output; the resolver claims every input; no asset is
created or lost anywhere."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aggregator.client.trader import TraderOutcome
from aggregator.devnet.manifest import DevnetManifest
from aggregator.models import AssetAt, Location, QuoteRequest
from aggregator.settlement.swap import SwapPhase, TxKind
from tests.settlement.harness import settlement_stack
from tests.settlement.routing import amm_connectors, asset_registry, router, snapshot

pytestmark = [pytest.mark.devnet, pytest.mark.slow]

# (sell asset, sell chain, buy asset, buy chain, amount in whole units of the sell asset)
ROUTES = [
    ("USDC", "alpha", "WETH", "beta", 3_000),
    ("USDC", "alpha", "WETH", "gamma", 1_500),
    ("WETH", "beta", "USDC", "alpha", 1),
    ("WETH", "gamma", "USDC", "beta", 2),
    ("WBTC", "gamma", "USDC", "alpha", 1),
    ("USDC", "beta", "WBTC", "gamma", 30_000),
    ("WETH", "alpha", "WBTC", "beta", 5),
    ("WBTC", "beta", "WETH", "alpha", 1),
    ("USDC", "gamma", "WETH", "gamma", 2_000),
    ("WETH", "alpha", "USDC", "alpha", 1),
]
DECIMALS = {"USDC": 6, "WETH": 18, "WBTC": 8}


async def test_twenty_router_quoted_swaps_deliver_exactly_and_conserve_every_asset(
    devnet: DevnetManifest, redis_url: str, tmp_path: Path
) -> None:
    trader: str = devnet.accounts.trader.address
    resolver: str = devnet.accounts.resolver.address
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        holders = [trader, resolver, devnet.accounts.deployer.address]
        holders += [c.htlc for c in devnet.chains]
        holders += [p.address for c in devnet.chains for p in c.pools]
        before = await stack.balances(holders)
        async with amm_connectors(devnet) as connectors:
            snap = await snapshot(stack, connectors)
        quoter = router(stack.config.timelocks, asset_registry(devnet))
        quotes = []
        for i in range(20):
            sell, src, buy, dst, whole = ROUTES[i % len(ROUTES)]
            request = QuoteRequest(
                sell=AssetAt(asset=sell, location=Location.chain(src, devnet.chain(src).chain_id)),
                buy=AssetAt(asset=buy, location=Location.chain(dst, devnet.chain(dst).chain_id)),
                amount=whole * 10 ** DECIMALS[sell] * (100 + i) // 100,
                firm=True,
            )
            quotes.append(await stack.put(quoter.quote(snap, request)))
        await stack.start_coordinator()
        results = await asyncio.gather(*(stack.trader.swap(q, stack.service) for q in quotes))
        assert [r.outcome for r in results] == [TraderOutcome.CLAIMED] * 20
        swaps = await stack.wait_terminal([r.ticket.swap.id for r in results])
        assert {s.phase for s in swaps} == {SwapPhase.COMPLETED}
        after = await stack.balances(holders)

    # every swap: its one destination lock and its source claim succeeded
    for swap in swaps:
        kinds = [(t.kind, t.status) for t in swap.txs]
        assert kinds == [(TxKind.DESTINATION_LOCK, 1), (TxKind.SOURCE_CLAIM, 1)], kinds
    # exact deltas: the trader gets the quoted outputs and pays the inputs; the resolver
    # the reverse; the HTLC contracts hold nothing more than before; pools are untouched
    expected: dict[tuple[str, str, str], int] = {}
    for quote in quotes:
        sold, bought = quote.request.sell, quote.request.buy
        for key, amount in (
            ((sold.location.key, sold.asset, trader), -quote.amount_in),
            ((sold.location.key, sold.asset, resolver), quote.amount_in),
            ((bought.location.key, bought.asset, trader), quote.amount_out),
            ((bought.location.key, bought.asset, resolver), -quote.amount_out),
        ):
            expected[key] = expected.get(key, 0) + amount
    for key in before:
        assert after[key] - before[key] == expected.get(key, 0), key
    # and so every token's total over all holders is unchanged
    for chain in devnet.chains:
        for asset in chain.tokens:
            total_before = sum(v for (c, a, _), v in before.items() if (c, a) == (chain.key, asset))
            total_after = sum(v for (c, a, _), v in after.items() if (c, a) == (chain.key, asset))
            assert total_before == total_after, (chain.key, asset)
