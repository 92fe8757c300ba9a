"""Compact wire form of liquidity for the book cache in Redis.

One JSON array per market, integers as integers (exact at any size) and
prices as decimal strings::

    ["a", market_id, sequence, ts_event, ts_recv, base_dec, quote_dec, fee_bps,
     pool, reserve_base, reserve_quote]
    ["b", market_id, sequence, ts_event, ts_recv, base_dec, quote_dec, fee_bps,
     lot_size, [price, size, price, size, ...bids], [...asks]]

Decoding builds the models without validation: the data was validated by the
connector that produced it, and a worker decodes every update it receives.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aggregator.models.liquidity import AmmCurve, BookLevel, Liquidity, OrderBook

__all__ = ["decode_liquidity", "encode_liquidity", "liquidity_row"]


def _levels(levels: tuple[BookLevel, ...]) -> list[Any]:
    flat: list[Any] = []
    for price, size in levels:
        flat.append(str(price))
        flat.append(size)
    return flat


def liquidity_row(liquidity: Liquidity) -> list[Any]:
    """The JSON-ready array of one market's liquidity."""
    head = [
        liquidity.market_id,
        liquidity.sequence,
        liquidity.ts_event,
        liquidity.ts_recv,
        liquidity.base_decimals,
        liquidity.quote_decimals,
        liquidity.fee_bps,
    ]
    if isinstance(liquidity, AmmCurve):
        return ["a", *head, liquidity.pool, liquidity.reserve_base, liquidity.reserve_quote]
    return ["b", *head, liquidity.lot_size, _levels(liquidity.bids), _levels(liquidity.asks)]


def encode_liquidity(liquidity: Liquidity) -> str:
    return json.dumps(liquidity_row(liquidity), separators=(",", ":"))


def _book_levels(flat: list[Any]) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(Decimal(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2))


def decode_liquidity(row: str | bytes | list[Any]) -> Liquidity:
    """The model a row describes; ``ValueError`` if it is not one."""
    data = json.loads(row) if isinstance(row, str | bytes) else row
    if not isinstance(data, list) or len(data) < 8:
        raise ValueError("not a liquidity row")
    kind, market_id, seq, ts_event, ts_recv, base_dec, quote_dec, fee = data[:8]
    common: dict[str, Any] = {
        "market_id": str(market_id),
        "sequence": int(seq),
        "ts_event": int(ts_event),
        "ts_recv": int(ts_recv),
        "base_decimals": int(base_dec),
        "quote_decimals": int(quote_dec),
        "fee_bps": int(fee),
    }
    if kind == "a" and len(data) == 11:
        return AmmCurve.model_construct(
            **common,
            pool=str(data[8]),
            reserve_base=int(data[9]),
            reserve_quote=int(data[10]),
        )
    if kind == "b" and len(data) == 11:
        return OrderBook.trusted(
            **common,
            lot_size=int(data[8]),
            bids=_book_levels(data[9]),
            asks=_book_levels(data[10]),
        )
    raise ValueError(f"unknown liquidity row kind {kind!r}")
