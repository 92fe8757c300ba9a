"""Market data: the immutable snapshot the router works on, and its builder."""

from aggregator.market.builder import (
    ChainStateSource,
    InventoryProvider,
    SnapshotBuilder,
    StaticInventory,
    reference_prices,
    topology_key,
)
from aggregator.market.snapshot import ChainState, InventoryLine, MarketSnapshot, TransferCost

__all__ = [
    "ChainState",
    "ChainStateSource",
    "InventoryLine",
    "InventoryProvider",
    "MarketSnapshot",
    "SnapshotBuilder",
    "StaticInventory",
    "TransferCost",
    "reference_prices",
    "topology_key",
]
