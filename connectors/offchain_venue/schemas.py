"""Wire schemas of the venue, with its own field names (Binance Spot's REST and streams).

These models describe exactly what the venue sends; nothing here knows about the
domain. :mod:`connectors.offchain_venue.convert` turns them into domain models in one
step. Prices and quantities stay the decimal strings the venue sends until then, so no
precision is lost on the way in. Unknown fields are ignored: the venue may add some.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AccountInfo",
    "AssetBalance",
    "CombinedDepthMessage",
    "DepthSnapshot",
    "DepthUpdate",
    "ErrorBody",
    "ExchangeInfo",
    "OrderFill",
    "OrderResponse",
    "RateLimit",
    "ServerTime",
    "SymbolFilter",
    "SymbolInfo",
]

PriceLevel = tuple[str, str]
"""``[price, quantity]`` as decimal strings; a quantity of ``"0"`` removes the level."""


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ErrorBody(_Wire):
    """``{"code": -1121, "msg": "Invalid symbol."}``."""

    code: int
    msg: str = ""


class ServerTime(_Wire):
    """``GET /api/v3/time``."""

    serverTime: int = Field(description="Milliseconds since the epoch.")


class RateLimit(_Wire):
    """One entry of ``exchangeInfo.rateLimits``."""

    rateLimitType: str = Field(description="REQUEST_WEIGHT, ORDERS or RAW_REQUESTS.")
    interval: str = Field(description="SECOND, MINUTE or DAY.")
    intervalNum: int = Field(gt=0)
    limit: int = Field(gt=0)


class SymbolFilter(_Wire):
    """A symbol filter; only the fields of its ``filterType`` are present."""

    filterType: str
    minPrice: str | None = None
    maxPrice: str | None = None
    tickSize: str | None = None
    minQty: str | None = None
    maxQty: str | None = None
    stepSize: str | None = None
    minNotional: str | None = None
    maxNotional: str | None = None


class SymbolInfo(_Wire):
    symbol: str
    status: str = "TRADING"
    baseAsset: str
    quoteAsset: str
    baseAssetPrecision: int | None = None
    quoteAssetPrecision: int | None = None
    orderTypes: tuple[str, ...] = ()
    filters: tuple[SymbolFilter, ...] = ()

    def filter(self, filter_type: str) -> SymbolFilter | None:
        for item in self.filters:
            if item.filterType == filter_type:
                return item
        return None


class ExchangeInfo(_Wire):
    """``GET /api/v3/exchangeInfo``."""

    timezone: str = "UTC"
    serverTime: int | None = None
    rateLimits: tuple[RateLimit, ...] = ()
    symbols: tuple[SymbolInfo, ...]


class DepthSnapshot(_Wire):
    """``GET /api/v3/depth``: the book as of update id ``lastUpdateId``."""

    lastUpdateId: int
    bids: tuple[PriceLevel, ...]
    asks: tuple[PriceLevel, ...]


class DepthUpdate(_Wire):
    """A ``<symbol>@depth`` diff covering update ids ``U..u``; quantities are new totals."""

    e: str = Field(description="Event type, depthUpdate.")
    E: int = Field(description="Event time, milliseconds.")
    s: str = Field(description="Symbol.")
    U: int = Field(description="First update id in this event.")
    u: int = Field(description="Final update id in this event.")
    b: tuple[PriceLevel, ...] = Field(description="Bid levels to update.")
    a: tuple[PriceLevel, ...] = Field(description="Ask levels to update.")


class CombinedDepthMessage(_Wire):
    """A frame of the combined stream ``/stream?streams=...``: ``{"stream", "data"}``."""

    stream: str
    data: DepthUpdate


class OrderFill(_Wire):
    price: str
    qty: str
    commission: str = "0"
    commissionAsset: str | None = None
    tradeId: int | None = None


class OrderResponse(_Wire):
    """``POST /api/v3/order`` with ``newOrderRespType=FULL``."""

    symbol: str
    orderId: int
    clientOrderId: str
    transactTime: int = Field(description="Milliseconds.")
    price: str
    origQty: str
    executedQty: str
    cummulativeQuoteQty: str
    status: str
    timeInForce: str
    type: str
    side: str
    fills: tuple[OrderFill, ...] = ()


class AssetBalance(_Wire):
    asset: str
    free: str
    locked: str


class AccountInfo(_Wire):
    """``GET /api/v3/account``."""

    canTrade: bool = True
    updateTime: int | None = None
    balances: tuple[AssetBalance, ...]
