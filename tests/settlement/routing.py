"""Router quotes on the devnet: AMM connectors, a snapshot, the resolver's inventory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from aggregator.devnet.manifest import DevnetManifest
from aggregator.market.builder import SnapshotBuilder, StaticInventory
from aggregator.market.snapshot import MarketSnapshot
from aggregator.models import AssetAt, AssetRegistry, Location, TokenInfo, load_assets_config
from aggregator.models.timelocks import TimelockPolicy
from aggregator.plugins.protocol import ConnectorContext
from aggregator.router import Router, RouterConfig
from connectors.evm_amm import EvmAmmConfig, EvmAmmConnector, configs_from_manifest
from tests.settlement.harness import Stack

ASSETS_TOML = "config/assets.toml"


def asset_registry(manifest: DevnetManifest) -> AssetRegistry:
    config = load_assets_config(Path(ASSETS_TOML))
    tokens = [
        TokenInfo(
            asset=symbol,
            chain=chain.key,
            chain_id=chain.chain_id,
            address=token.address,
            decimals=token.decimals,
        )
        for chain in manifest.chains
        for symbol, token in chain.tokens.items()
    ]
    return AssetRegistry(config.assets, tokens, config.venue_pairs)


@contextlib.asynccontextmanager
async def amm_connectors(
    manifest: DevnetManifest, *, executor: bool = False
) -> AsyncIterator[list[EvmAmmConnector]]:
    """One started EVM AMM connector per chain (executing as the resolver if asked)."""
    registry = asset_registry(manifest)
    connectors = []
    for item in configs_from_manifest(manifest):
        config = dict(item["config"])
        if not executor:
            config.pop("executor_private_key", None)
        connectors.append(
            EvmAmmConnector(
                EvmAmmConfig.model_validate(config),
                ConnectorContext(registry=registry, instance_name=item["name"], extras={}),
            )
        )
    await asyncio.gather(*(c.start() for c in connectors))
    try:
        for _ in range(400):
            if all(c.health().usable for c in connectors):
                break
            await asyncio.sleep(0.025)
        yield connectors
    finally:
        await asyncio.gather(*(c.stop() for c in connectors), return_exceptions=True)


async def snapshot(stack: Stack, connectors: list[EvmAmmConnector]) -> MarketSnapshot:
    """Every pool, chain state and the resolver's balances as inventory."""
    resolver = stack.manifest.accounts.resolver.address
    holdings = {}
    for chain in stack.config.chains:
        location = Location.chain(chain.key, chain.chain_id)
        for asset in chain.tokens:
            amount = await stack.token_balance(chain.key, asset, resolver)
            holdings[AssetAt(asset=asset, location=location)] = amount
    builder = SnapshotBuilder(connectors, inventory=StaticInventory(holdings))
    return builder.build()


def router(timelocks: TimelockPolicy, registry: AssetRegistry) -> Router:
    decimals = {a.symbol: a.decimals for a in registry.assets}
    return Router(RouterConfig(timelocks=timelocks, quote_ttl_s=60), decimals=decimals)
