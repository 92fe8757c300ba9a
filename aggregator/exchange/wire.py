"""Binance Spot's JSON shapes for the exchange's answers and stream messages.

Field names are Binance's own (``cummulativeQuoteQty`` included, as Binance spells it);
amounts are decimal strings in human units, times are milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aggregator.exchange.engine import DepthSnapshot
from aggregator.exchange.ledger import Balance
from aggregator.exchange.orders import BookUpdate, Fill, OrderType, OrderView, TradeEvent
from aggregator.exchange.units import SymbolSpec, format_units

__all__ = [
    "ORDER_TYPES",
    "balances",
    "cancel_result",
    "depth_snapshot",
    "depth_update",
    "order_ack",
    "order_full",
    "order_query",
    "order_result",
    "symbol_info",
    "trade_message",
]

ORDER_TYPES = [OrderType.LIMIT.value, OrderType.LIMIT_MAKER.value, OrderType.MARKET.value]
_STP_MODES = ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]

JSON = dict[str, Any]


def _ms(ns: int) -> int:
    return ns // 1_000_000


def symbol_info(spec: SymbolSpec) -> JSON:
    f = spec.format_price
    step = spec.format_qty(spec.lot_units)
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": spec.base_decimals,
        "quoteAsset": spec.quote,
        "quotePrecision": spec.quote_decimals,
        "quoteAssetPrecision": spec.quote_decimals,
        "baseCommissionPrecision": spec.base_decimals,
        "quoteCommissionPrecision": spec.quote_decimals,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": f(spec.min_price_ticks),
                "maxPrice": f(spec.max_price_ticks),
                "tickSize": f(1),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": spec.format_qty(spec.min_qty_units),
                "maxQty": spec.format_qty(spec.max_qty_units),
                "stepSize": step,
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": spec.format_qty(spec.min_qty_units),
                "maxQty": spec.format_qty(spec.max_qty_units),
                "stepSize": step,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": spec.format_quote(spec.min_notional_units),
                "applyMinToMarket": True,
                "maxNotional": spec.format_quote(spec.max_notional_units),
                "applyMaxToMarket": False,
                "avgPriceMins": 0,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": spec.default_stp,
        "allowedSelfTradePreventionModes": _STP_MODES,
    }


def depth_snapshot(snapshot: DepthSnapshot, spec: SymbolSpec) -> JSON:
    fp, fq = spec.format_price, spec.format_qty
    return {
        "lastUpdateId": snapshot.last_update_id,
        "bids": [[fp(p), fq(q)] for p, q in snapshot.bids],
        "asks": [[fp(p), fq(q)] for p, q in snapshot.asks],
    }


def depth_update(update: BookUpdate, spec: SymbolSpec, event_ms: int) -> JSON:
    fp, fq = spec.format_price, spec.format_qty
    return {
        "e": "depthUpdate",
        "E": event_ms,
        "s": spec.symbol,
        "U": update.first_update_id,
        "u": update.last_update_id,
        "b": [[fp(p), fq(q)] for p, q in update.bids],
        "a": [[fp(p), fq(q)] for p, q in update.asks],
    }


def trade_message(trade: TradeEvent, spec: SymbolSpec, event_ms: int) -> JSON:
    return {
        "e": "trade",
        "E": event_ms,
        "s": spec.symbol,
        "t": trade.trade_id,
        "p": spec.format_price(trade.price),
        "q": spec.format_qty(trade.qty),
        "T": _ms(trade.ts_event),
        "m": trade.buyer_is_maker,
        "M": True,
    }


def order_ack(order: OrderView) -> JSON:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": _ms(order.ts_updated),
    }


def _common(order: OrderView, spec: SymbolSpec) -> JSON:
    return {
        "price": spec.format_price(order.price),
        "origQty": spec.format_qty(order.orig_qty),
        "executedQty": spec.format_qty(order.executed_qty),
        "origQuoteOrderQty": spec.format_quote(order.orig_quote_order_qty),
        "cummulativeQuoteQty": spec.format_quote(order.cumulative_quote),
        "status": order.status.value,
        "timeInForce": order.time_in_force.value,
        "type": order.type.value,
        "side": order.side.value,
    }


def order_result(order: OrderView, spec: SymbolSpec) -> JSON:
    out = order_ack(order)
    out.update(_common(order, spec))
    out["workingTime"] = _ms(order.ts_created) if order.type is not OrderType.MARKET else -1
    out["selfTradePreventionMode"] = order.stp.value
    return out


def order_full(
    order: OrderView, spec: SymbolSpec, fills: Sequence[Fill], decimals: dict[str, int]
) -> JSON:
    out = order_result(order, spec)
    out["fills"] = [
        {
            "price": spec.format_price(f.price),
            "qty": spec.format_qty(f.qty),
            "commission": format_units(f.commission, decimals[f.commission_asset]),
            "commissionAsset": f.commission_asset,
            "tradeId": f.trade_id,
        }
        for f in fills
    ]
    return out


def order_query(order: OrderView, spec: SymbolSpec) -> JSON:
    out: JSON = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
    }
    out.update(_common(order, spec))
    zero = spec.format_price(0)
    out.update(
        {
            "stopPrice": zero,
            "icebergQty": spec.format_qty(0),
            "time": _ms(order.ts_created),
            "updateTime": _ms(order.ts_updated),
            "isWorking": order.type is not OrderType.MARKET,
            "workingTime": _ms(order.ts_created) if order.type is not OrderType.MARKET else -1,
            "selfTradePreventionMode": order.stp.value,
        }
    )
    return out


def cancel_result(
    order: OrderView, spec: SymbolSpec, cancel_client_id: str, transact_ms: int
) -> JSON:
    out: JSON = {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_client_id,
        "transactTime": transact_ms,
    }
    out.update(_common(order, spec))
    out["selfTradePreventionMode"] = order.stp.value
    return out


def balances(entries: Sequence[Balance], decimals: dict[str, int], omit_zero: bool) -> list[JSON]:
    return [
        {
            "asset": b.asset,
            "free": format_units(b.free, decimals[b.asset]),
            "locked": format_units(b.locked, decimals[b.asset]),
        }
        for b in entries
        if not (omit_zero and b.free == 0 and b.locked == 0)
    ]
