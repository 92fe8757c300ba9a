"""Domain model: assets, locations, markets, liquidity and quotes."""

from aggregator.models.assets import Asset, AssetAt, Location, LocationKind, TokenInfo
from aggregator.models.liquidity import (
    AmmCurve,
    BookLevel,
    DepthLadder,
    Liquidity,
    LiquidityView,
    OrderBook,
)
from aggregator.models.market import Market, MarketKind, Side
from aggregator.models.quote import (
    CostBreakdown,
    Exclusion,
    ExclusionReason,
    Quote,
    QuoteLeg,
    QuoteMode,
    QuotePath,
    QuoteRequest,
    SettlementPlan,
)
from aggregator.models.registry import AssetRegistry, AssetsConfig, VenuePair, load_assets_config
from aggregator.models.units import (
    BPS,
    BaseUnits,
    Nanos,
    Wei,
    from_base_units,
    now_ns,
    to_base_units,
)

__all__ = [
    "BPS",
    "AmmCurve",
    "Asset",
    "AssetAt",
    "AssetRegistry",
    "AssetsConfig",
    "BaseUnits",
    "BookLevel",
    "CostBreakdown",
    "DepthLadder",
    "Exclusion",
    "ExclusionReason",
    "Liquidity",
    "LiquidityView",
    "Location",
    "LocationKind",
    "Market",
    "MarketKind",
    "Nanos",
    "OrderBook",
    "Quote",
    "QuoteLeg",
    "QuoteMode",
    "QuotePath",
    "QuoteRequest",
    "SettlementPlan",
    "Side",
    "TokenInfo",
    "VenuePair",
    "Wei",
    "from_base_units",
    "load_assets_config",
    "now_ns",
    "to_base_units",
]
