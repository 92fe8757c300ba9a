"""On the devnet, every AMM leg of a router quote is exactly what the pool contract pays.

The router quotes over the live EVM AMM connectors' snapshot; then each pool swap of
the quote is executed, in the quote's order, by the same connectors as the resolver,
and the amount the pool paid (read from its ``Swap`` event) must equal the leg's
``amount_out`` to the unit. Chains are reverted afterwards.
"""

from __future__ import annotations

import asyncio

import pytest

from aggregator.client.quoting import asset_registry, devnet_connectors, wait_healthy
from aggregator.devnet.manifest import DevnetManifest
from aggregator.market.builder import SnapshotBuilder, StaticInventory
from aggregator.models import AssetAt, Location, QuoteMode, QuoteRequest
from aggregator.plugins.protocol import ExecutionRequest
from aggregator.router import Router, RouterConfig, amm_legs

pytestmark = pytest.mark.devnet

# (sell asset, source chain, buy asset, destination chain, mode, whole units)
REQUESTS = [
    ("USDC", "alpha", "WETH", "beta", QuoteMode.EXACT_IN, 3_000),
    ("USDC", "alpha", "WETH", "gamma", QuoteMode.EXACT_IN, 2_500_000),
    ("WETH", "gamma", "USDC", "alpha", QuoteMode.EXACT_IN, 900),
    ("WBTC", "beta", "WETH", "alpha", QuoteMode.EXACT_IN, 3),
    ("USDC", "beta", "WBTC", "gamma", QuoteMode.EXACT_OUT, 2),
]


@pytest.mark.parametrize(("sell", "src", "buy", "dst", "mode", "whole"), REQUESTS)
async def test_every_amm_leg_equals_what_the_pool_pays(
    devnet_snapshot: DevnetManifest,
    sell: str,
    src: str,
    buy: str,
    dst: str,
    mode: QuoteMode,
    whole: int,
) -> None:
    manifest = devnet_snapshot
    registry = asset_registry(manifest)
    chains = {c.key: c.chain_id for c in manifest.chains}
    unit = 10 ** registry.decimals(sell if mode is QuoteMode.EXACT_IN else buy)
    # Ample inventory everywhere: this test is about prices, not capacity.
    inventory = {
        AssetAt(asset=a.symbol, location=Location.chain(key, cid)): 10**40
        for key, cid in chains.items()
        for a in registry.assets
    }
    connectors = devnet_connectors(manifest, execute=True)
    await asyncio.gather(*(c.start() for c in connectors))
    try:
        await wait_healthy(connectors)
        snapshot = SnapshotBuilder(connectors, inventory=StaticInventory(inventory)).build()
        router = Router(RouterConfig(), decimals={a.symbol: a.decimals for a in registry.assets})
        request = QuoteRequest(
            sell=AssetAt(asset=sell, location=Location.chain(src, chains[src])),
            buy=AssetAt(asset=buy, location=Location.chain(dst, chains[dst])),
            mode=mode,
            amount=whole * unit,
        )
        quote = router.quote(snapshot, request)
        legs = amm_legs(quote, snapshot)
        assert legs, f"no AMM leg in {quote.paths}"
        by_market = {m.id: c for c in connectors for m in c.markets()}
        for leg in legs:
            result = await by_market[leg.market_id].execute(
                ExecutionRequest(
                    market_id=leg.market_id,
                    side=leg.side,
                    amount_in=leg.amount_in,
                    min_amount_out=0,
                    client_id=f"{quote.id}-{leg.order}",
                )
            )
            assert result.amount_in == leg.amount_in
            assert result.amount_out == leg.amount_out, (
                f"leg {leg.order} on {leg.market_id}: quoted {leg.amount_out}, "
                f"pool paid {result.amount_out}"
            )
    finally:
        await asyncio.gather(*(c.stop() for c in connectors), return_exceptions=True)
