"""Checks of a new order against its market's filters and Binance's parameter rules."""

from __future__ import annotations

from aggregator.exchange.book import SymbolBook
from aggregator.exchange.errors import BadParameterError, FilterFailureError, OrderRejectedError
from aggregator.exchange.orders import OrderRequest, OrderType, Side

__all__ = ["validate"]


def validate(req: OrderRequest, book: SymbolBook) -> int | None:
    """Check the request against the symbol's filters; returns its limit price."""
    spec = book.spec
    qty, price = req.quantity, req.price
    if qty is not None and (
        qty % spec.lot_units or not spec.min_qty_units <= qty <= spec.max_qty_units
    ):
        raise FilterFailureError("LOT_SIZE")
    if req.type is OrderType.MARKET:
        if qty is None and req.quote_order_qty is None:
            raise BadParameterError(
                "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
            )
        if qty is not None and req.quote_order_qty is not None:
            raise BadParameterError(
                "Parameter 'quoteOrderQty' sent when not required.", venue_code=-1106
            )
        if price is not None:
            raise BadParameterError("Parameter 'price' sent when not required.", venue_code=-1106)
        quote = req.quote_order_qty
        if quote is not None and not spec.min_notional_units <= quote:
            raise FilterFailureError("NOTIONAL")
        return None
    if qty is None or price is None:
        name = "quantity" if qty is None else "price"
        raise BadParameterError(
            f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    if req.quote_order_qty is not None:
        raise BadParameterError(
            "Parameter 'quoteOrderQty' sent when not required.", venue_code=-1106
        )
    if not spec.min_price_ticks <= price <= spec.max_price_ticks:
        raise FilterFailureError("PRICE_FILTER")
    notional = spec.quote_units(qty, price)
    if not spec.min_notional_units <= notional <= spec.max_notional_units:
        raise FilterFailureError("NOTIONAL")
    if req.type is OrderType.LIMIT_MAKER:
        best = (book.asks if req.side is Side.BUY else book.bids).best()
        if best is not None and (price >= best if req.side is Side.BUY else price <= best):
            raise OrderRejectedError("Order would immediately match and take.")
    return price
