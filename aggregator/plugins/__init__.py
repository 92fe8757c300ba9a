"""Connector plugins: the protocol, the registry and the conformance kit."""

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

__all__ = [
    "PROTOCOL_VERSION",
    "Capabilities",
    "Capability",
    "Connector",
    "ConnectorContext",
    "ConnectorPlugin",
    "ExecutionRequest",
    "ExecutionResult",
    "Fill",
    "Health",
    "HealthStatus",
    "LiquidityUpdate",
]
