"""Service composition: the market-data process, the book cache and a worker's quoting."""

from aggregator.service.batcher import RedisBatcher
from aggregator.service.bookcache import BookCache, BookCachePublisher, VenueRecord
from aggregator.service.codec import decode_liquidity, encode_liquidity
from aggregator.service.compose import Foundation, load_foundation, read_chain_holdings
from aggregator.service.marketdata import MarketDataService, cache_prefix
from aggregator.service.quoting import QuoteEngine
from aggregator.service.snapshots import CachedInventory, CachedVenue, SnapshotSource

__all__ = [
    "BookCache",
    "BookCachePublisher",
    "CachedInventory",
    "CachedVenue",
    "Foundation",
    "MarketDataService",
    "QuoteEngine",
    "RedisBatcher",
    "SnapshotSource",
    "VenueRecord",
    "cache_prefix",
    "decode_liquidity",
    "encode_liquidity",
    "load_foundation",
    "read_chain_holdings",
]
