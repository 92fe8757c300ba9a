"""What every process of the service is built from: settings, manifest, registries.

:func:`load_foundation` reads the devnet manifest, the canonical assets and
the connector instances (the devnet's, through each plugin's
``configs_from_manifest``, plus an optional connectors file). The other
functions derive the shared parts from it, so the market-data process and the
API workers agree on the asset registry, the router's configuration and the
settlement configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from aggregator.chain.rpc import RpcCall
from aggregator.devnet.manifest import DevnetManifest, load_manifest
from aggregator.models.assets import AssetAt, Location
from aggregator.models.registry import AssetRegistry, AssetsConfig, load_assets_config
from aggregator.plugins.protocol import Connector
from aggregator.plugins.registry import (
    ConnectorInstanceConfig,
    PluginRegistry,
    asset_registry_for_manifest,
    configs_from_manifest,
    load_connectors_config,
)
from aggregator.router import Router
from aggregator.settings import Settings
from aggregator.settlement.chain import ChainClient
from aggregator.settlement.config import SettlementConfig

__all__ = ["Foundation", "load_foundation", "read_chain_holdings"]

_BALANCE_OF = keccak(text="balanceOf(address)")[:4]


@dataclass(frozen=True)
class Foundation:
    """The parts every process derives from the same settings and manifest."""

    settings: Settings
    manifest: DevnetManifest
    assets: AssetsConfig
    registry: AssetRegistry
    plugins: PluginRegistry
    instances: tuple[ConnectorInstanceConfig, ...]

    @property
    def resolver_address(self) -> str:
        return str(self.manifest.accounts.resolver.address)

    def decimals(self) -> dict[str, int]:
        return {a.symbol: a.decimals for a in self.registry.assets}

    def router(self) -> Router:
        return Router(self.settings.router, decimals=self.decimals())

    def settlement_config(self) -> SettlementConfig:
        options = self.settings.settlement
        return SettlementConfig.from_manifest(
            self.manifest,
            timelocks=self.settings.router.timelocks,
            poll_interval_s=options.poll_interval_s,
            lease_ttl_ms=options.lease_ttl_ms,
            lock_window_s=options.lock_window_s,
        )

    def build_connectors(self, extras: Mapping[str, Any] | None = None) -> list[Connector]:
        """Every enabled connector instance, validated and constructed (not started).

        ``extras`` reach each connector's context (e.g. the process's nonce source under
        :data:`aggregator.chain.nonces.NONCE_SOURCE`).
        """
        return self.plugins.build(self.instances, self.registry, extras)

    def chain_location(self, key: str) -> Location:
        chain = self.manifest.chain(key)
        return Location.chain(chain.key, chain.chain_id)


def load_foundation(settings: Settings, plugins: PluginRegistry | None = None) -> Foundation:
    """Manifest, assets and connector instances; typed errors if anything is missing."""
    manifest = load_manifest(settings.devnet.resolved_dir())
    assets = load_assets_config(settings.assets_path)
    registry = asset_registry_for_manifest(manifest, assets)
    plugins = plugins or PluginRegistry.discover()
    instances = list(configs_from_manifest(manifest, plugins))
    if settings.connectors_path is not None:
        instances += load_connectors_config(settings.connectors_path).connectors
    return Foundation(
        settings=settings,
        manifest=manifest,
        assets=assets,
        registry=registry,
        plugins=plugins,
        instances=tuple(i for i in instances if i.enabled),
    )


async def read_chain_holdings(
    foundation: Foundation, owner: str, session: aiohttp.ClientSession
) -> dict[AssetAt, int]:
    """``owner``'s balance of every registry token on every chain, one batch per chain."""
    out: dict[AssetAt, int] = {}
    data = "0x" + (_BALANCE_OF + encode(["address"], [owner])).hex()
    for chain in foundation.manifest.chains:
        tokens = foundation.registry.tokens(chain.key)
        if not tokens:
            continue
        client = ChainClient(chain.key, chain.chain_id, chain.rpc_url, session)
        calls = [RpcCall("eth_call", [{"to": t.address, "data": data}, "latest"]) for t in tokens]
        results = await client.batch(calls)
        location = Location.chain(chain.key, chain.chain_id)
        for token, raw in zip(tokens, results, strict=True):
            out[AssetAt(asset=token.asset, location=location)] = int(str(raw), 16)
    return out
