"""Off-chain order-book venue connector (Binance-Spot-shaped REST and WebSocket APIs).

Registered under the entry-point group ``aggregator.connectors`` as ``offchain_venue``.
REST over httpx (snapshots, signed orders and balances, a local request-weight budget),
the combined depth stream over aiohttp, and per market a book synchronizer that follows
the venue's documented snapshot-plus-diff procedure and quarantines the market on any
inconsistency until it is resynced.
"""

from __future__ import annotations

from typing import Any

from aggregator.plugins.protocol import PROTOCOL_VERSION, ConnectorContext, ConnectorPlugin
from connectors.offchain_venue.config import PLUGIN_NAME, OffchainVenueConfig, configs_from_manifest
from connectors.offchain_venue.connector import OffchainVenueConnector
from connectors.offchain_venue.convert import Balance, MarketSpec
from connectors.offchain_venue.sync import QuarantineReason, SyncMetrics, SyncState
from connectors.offchain_venue.trading import VenueNotFilledError

__all__ = [
    "PLUGIN_NAME",
    "Balance",
    "MarketSpec",
    "OffchainVenueConfig",
    "OffchainVenueConnector",
    "QuarantineReason",
    "SyncMetrics",
    "SyncState",
    "VenueNotFilledError",
    "configs_from_manifest",
    "create",
    "plugin",
]


def create(config: Any, context: ConnectorContext) -> OffchainVenueConnector:
    """The plugin factory: one connector instance named after its config entry."""
    if not isinstance(config, OffchainVenueConfig):
        config = OffchainVenueConfig.model_validate(config)
    return OffchainVenueConnector(context.instance_name, config, context.registry)


plugin = ConnectorPlugin(
    name=PLUGIN_NAME,
    protocol_version=PROTOCOL_VERSION,
    config_model=OffchainVenueConfig,
    factory=create,
    description="Order-book venue over Binance-Spot-shaped REST and WebSocket APIs.",
)
