"""Market data: the immutable snapshot the router works on."""

from aggregator.market.snapshot import ChainState, InventoryLine, MarketSnapshot, TransferCost

__all__ = ["ChainState", "InventoryLine", "MarketSnapshot", "TransferCost"]
