"""Connector plugins: the protocol, the registry and the conformance kit.

Names are imported on first use, so that loading the conformance kit's pytest
plugin (or any light submodule) does not pay for the whole domain model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aggregator.plugins.protocol import (
        PROTOCOL_VERSION,
        Capabilities,
        Capability,
        Connector,
        ConnectorContext,
        ConnectorPlugin,
        ExecutionRequest,
        ExecutionResult,
        Fill,
        Health,
        HealthStatus,
        LiquidityUpdate,
    )
    from aggregator.plugins.registry import (
        ENTRY_POINT_GROUP,
        ConnectorInstanceConfig,
        ConnectorsConfig,
        InstalledPlugin,
        PluginRegistry,
        configs_from_manifest,
        load_connectors_config,
    )

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROTOCOL_VERSION",
    "Capabilities",
    "Capability",
    "Connector",
    "ConnectorContext",
    "ConnectorInstanceConfig",
    "ConnectorPlugin",
    "ConnectorsConfig",
    "ExecutionRequest",
    "ExecutionResult",
    "Fill",
    "Health",
    "HealthStatus",
    "InstalledPlugin",
    "LiquidityUpdate",
    "PluginRegistry",
    "configs_from_manifest",
    "load_connectors_config",
]

_REGISTRY_NAMES = frozenset(
    {
        "ENTRY_POINT_GROUP",
        "ConnectorInstanceConfig",
        "ConnectorsConfig",
        "InstalledPlugin",
        "PluginRegistry",
        "configs_from_manifest",
        "load_connectors_config",
    }
)


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = "registry" if name in _REGISTRY_NAMES else "protocol"
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
