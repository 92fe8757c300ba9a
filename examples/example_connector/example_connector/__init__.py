"""An example connector plugin for the aggregator: a synthetic in-memory order-book venue.

The entry point ``synthetic_book`` in this package's ``pyproject.toml`` names
:data:`PLUGIN`; the aggregator's registry loads it, validates each instance's
config table with :class:`SyntheticBookConfig` and calls the factory.
"""

from __future__ import annotations

from typing import Any

from aggregator.plugins import PROTOCOL_VERSION, ConnectorContext, ConnectorPlugin
from example_connector.config import SyntheticBookConfig, SyntheticMarketConfig
from example_connector.connector import SyntheticBookConnector
from example_connector.venue import SyntheticVenue

__all__ = [
    "PLUGIN",
    "SyntheticBookConfig",
    "SyntheticBookConnector",
    "SyntheticMarketConfig",
    "SyntheticVenue",
]


def _factory(config: Any, context: ConnectorContext) -> SyntheticBookConnector:
    return SyntheticBookConnector(config, context)


PLUGIN = ConnectorPlugin(
    name="synthetic_book",
    protocol_version=PROTOCOL_VERSION,
    config_model=SyntheticBookConfig,
    factory=_factory,
    description="Synthetic random-walk order books with an in-memory account (example).",
)
