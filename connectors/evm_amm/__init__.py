"""EVM AMM connector: constant-product pools of one chain per instance.

Registered as the ``evm_amm`` plugin in the ``aggregator.connectors``
entry-point group, like any third-party plugin.
"""

from __future__ import annotations

from typing import Any

from aggregator.plugins.protocol import PROTOCOL_VERSION, ConnectorContext, ConnectorPlugin
from connectors.evm_amm.config import (
    PLUGIN_NAME,
    EvmAmmConfig,
    PoolConfig,
    configs_from_manifest,
)
from connectors.evm_amm.connector import EvmAmmConnector

__all__ = [
    "PLUGIN",
    "EvmAmmConfig",
    "EvmAmmConnector",
    "PoolConfig",
    "configs_from_manifest",
]


def _factory(config: Any, context: ConnectorContext) -> EvmAmmConnector:
    return EvmAmmConnector(config, context)


PLUGIN = ConnectorPlugin(
    name=PLUGIN_NAME,
    protocol_version=PROTOCOL_VERSION,
    config_model=EvmAmmConfig,
    factory=_factory,
    description="Constant-product AMM pools of one EVM chain, read per block over JSON-RPC.",
)
