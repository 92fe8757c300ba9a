"""Firm quotes on the devnet without the HTTP API: AMM connectors, a snapshot, the router.

Used by ``aggregator swap`` when it is given a pair and an amount instead of a
quote id, and by tests. The quote is stored in Redis (:class:`QuoteStore`) so
the settlement service can execute it like any other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from aggregator.devnet.manifest import DevnetManifest
from aggregator.errors import ConfigError, StaleSourceError
from aggregator.market.builder import SnapshotBuilder, StaticInventory
from aggregator.market.snapshot import MarketSnapshot
from aggregator.models import (
    AssetAt,
    AssetRegistry,
    Location,
    Quote,
    QuoteRequest,
    load_assets_config,
)
from aggregator.models.timelocks import TimelockPolicy
from aggregator.plugins.protocol import Connector
from aggregator.plugins.registry import (
    PluginRegistry,
    asset_registry_for_manifest,
    configs_from_manifest,
)
from aggregator.router import Router, RouterConfig
from aggregator.settlement.chain import ChainClient
from aggregator.settlement.terms import balance_of_calldata

__all__ = ["asset_registry", "devnet_connectors", "devnet_quote", "parse_asset_at"]

_REPO_ROOT = Path(__file__).resolve().parents[2]
AMM_PLUGIN = "evm_amm"


def asset_registry(manifest: DevnetManifest, assets_toml: Path | None = None) -> AssetRegistry:
    """Canonical assets from ``config/assets.toml`` with the devnet's token addresses."""
    config = load_assets_config(assets_toml or _REPO_ROOT / "config" / "assets.toml")
    return asset_registry_for_manifest(manifest, config)


def parse_asset_at(text: str, manifest: DevnetManifest) -> AssetAt:
    """``USDC@alpha`` on a devnet chain."""
    asset, _, chain = text.partition("@")
    try:
        deployment = manifest.chain(chain)
    except KeyError:
        raise ConfigError(f"no chain {chain!r} in the devnet", value=text) from None
    return AssetAt(asset=asset, location=Location.chain(chain, deployment.chain_id))


def devnet_connectors(manifest: DevnetManifest, *, execute: bool = False) -> list[Connector]:
    """The ``evm_amm`` plugin's instances for the devnet (executing as the resolver if asked).

    Loaded through the ``aggregator.connectors`` entry points like any plugin.
    """
    plugins = PluginRegistry.discover()
    instances = configs_from_manifest(manifest, plugins, plugins=[AMM_PLUGIN])
    if not execute:
        instances = [
            i.model_copy(
                update={
                    "config": {k: v for k, v in i.config.items() if k != "executor_private_key"}
                }
            )
            for i in instances
        ]
    return plugins.build(instances, asset_registry(manifest))


async def wait_healthy(connectors: Sequence[Connector], limit_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not all(c.health().usable for c in connectors):
        if loop.time() > deadline:
            raise StaleSourceError("connectors not healthy in time")
        await asyncio.sleep(0.025)


async def resolver_inventory(
    manifest: DevnetManifest, clients: dict[str, ChainClient]
) -> dict[AssetAt, int]:
    """The resolver's token balances on every chain."""
    resolver = manifest.accounts.resolver.address
    holdings: dict[AssetAt, int] = {}
    for chain in manifest.chains:
        location = Location.chain(chain.key, chain.chain_id)
        for asset, token in chain.tokens.items():
            raw = await clients[chain.key].eth_call(token.address, balance_of_calldata(resolver))
            holdings[AssetAt(asset=asset, location=location)] = int.from_bytes(raw[:32], "big")
    return holdings


async def devnet_snapshot(
    manifest: DevnetManifest, connectors: Sequence[Connector], clients: dict[str, ChainClient]
) -> MarketSnapshot:
    inventory = StaticInventory(await resolver_inventory(manifest, clients))
    return SnapshotBuilder(connectors, inventory=inventory).build()


async def devnet_quote(
    manifest: DevnetManifest,
    request: QuoteRequest,
    clients: dict[str, ChainClient],
    timelocks: TimelockPolicy,
    quote_ttl_s: int = 60,
) -> Quote:
    """Quote ``request`` with the router on the devnet's pools and the resolver's inventory."""
    connectors = devnet_connectors(manifest)
    await asyncio.gather(*(c.start() for c in connectors))
    try:
        await wait_healthy(connectors)
        snapshot = await devnet_snapshot(manifest, connectors, clients)
    finally:
        await asyncio.gather(*(c.stop() for c in connectors), return_exceptions=True)
    registry = asset_registry(manifest)
    router = Router(
        RouterConfig(timelocks=timelocks, quote_ttl_s=quote_ttl_s),
        decimals={a.symbol: a.decimals for a in registry.assets},
    )
    return router.quote(snapshot, request)
