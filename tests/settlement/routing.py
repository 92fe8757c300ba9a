"""Router quotes on the devnet for the tests: started AMM connectors and a router."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aggregator.chain.nonces import NONCE_SOURCE, NonceSource
from aggregator.client.quoting import (
    AMM_PLUGIN,
    asset_registry,
    devnet_connectors,
    devnet_snapshot,
    wait_healthy,
)
from aggregator.devnet.manifest import DevnetManifest
from aggregator.market.snapshot import MarketSnapshot
from aggregator.models import AssetRegistry
from aggregator.models.timelocks import TimelockPolicy
from aggregator.plugins.protocol import Connector
from aggregator.plugins.registry import PluginRegistry, configs_from_manifest
from aggregator.router import Router, RouterConfig
from tests.settlement.harness import Stack

__all__ = ["amm_connectors", "asset_registry", "router", "snapshot"]


@contextlib.asynccontextmanager
async def amm_connectors(
    manifest: DevnetManifest, *, executor: bool = False, nonces: NonceSource | None = None
) -> AsyncIterator[list[Connector]]:
    """One started EVM AMM connector per chain (executing as the resolver if asked, with
    nonces from ``nonces`` if given)."""
    if nonces is None:
        connectors = devnet_connectors(manifest, execute=executor)
    else:
        plugins = PluginRegistry.discover()
        instances = configs_from_manifest(manifest, plugins, plugins=[AMM_PLUGIN])
        connectors = plugins.build(instances, asset_registry(manifest), {NONCE_SOURCE: nonces})
    await asyncio.gather(*(c.start() for c in connectors))
    try:
        await wait_healthy(connectors)
        yield connectors
    finally:
        await asyncio.gather(*(c.stop() for c in connectors), return_exceptions=True)


async def snapshot(stack: Stack, connectors: list[Connector]) -> MarketSnapshot:
    """Every pool, chain state and the resolver's balances as inventory."""
    return await devnet_snapshot(stack.manifest, connectors, stack.clients)


def router(timelocks: TimelockPolicy, registry: AssetRegistry) -> Router:
    decimals = {a.symbol: a.decimals for a in registry.assets}
    return Router(RouterConfig(timelocks=timelocks, quote_ttl_s=60), decimals=decimals)
