"""The matching loop: a taker order against the opposite side of one book.

Pure and synchronous. Makers are consumed best price first and, within a level, oldest
first; every fill settles both accounts at once (the buyer's locked quote and the seller's
locked base move across, fees go to the fee account), so the engine's conservation
invariant holds after each fill, not only after each order.

Self-trade prevention follows Binance: the *taker's* mode decides. EXPIRE_MAKER expires
the resting order and matching goes on; EXPIRE_TAKER expires the rest of the taker;
EXPIRE_BOTH does both; NONE lets the account trade with itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from aggregator.exchange.book import SymbolBook
from aggregator.exchange.ledger import Account
from aggregator.exchange.orders import (
    Fill,
    Order,
    OrderStatus,
    SelfTradePrevention,
    TradeEvent,
)

__all__ = ["FeeSchedule", "Stop", "fee_for", "match", "plan"]

_NONE = SelfTradePrevention.NONE
_EXPIRE_MAKER = SelfTradePrevention.EXPIRE_MAKER
_EXPIRE_TAKER = SelfTradePrevention.EXPIRE_TAKER


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Commission rates in basis points, charged on the asset each side receives."""

    maker_bps: int = 0
    taker_bps: int = 0


class Stop(IntEnum):
    """Why matching stopped."""

    QTY = 1  # the taker's quantity is all filled
    QUOTE = 2  # the taker's quote budget cannot buy (or sell for) another lot
    BOOK = 3  # no more opposite orders within the taker's limit price
    STP = 4  # self-trade prevention expired the taker


def fee_for(amount: int, bps: int) -> int:
    """Commission on ``amount`` received, rounded up to a whole base unit."""
    return -(-amount * bps // 10_000) if bps else 0


def plan(
    book: SymbolBook,
    is_buy: bool,
    account: str,
    stp: SelfTradePrevention,
    max_qty: int,
    max_quote: int | None,
) -> tuple[int, int]:
    """(base units, quote units) a market order would trade now, without trading.

    Walks the same makers as :func:`match` would, with the same self-trade and budget
    rules, so reserving its result covers the real matching exactly.
    """
    spec = book.spec
    lot, qpl = spec.lot_units, spec.quote_units_per_lot_tick
    opp = book.asks if is_buy else book.bids
    qty_total = quote_total = 0
    for price in opp.prices():
        per_lot = price * qpl
        for maker in opp.levels[price]:
            if stp is not _NONE and maker.account == account:
                if stp is _EXPIRE_MAKER:
                    continue
                return qty_total, quote_total
            lots = min(maker.remaining, max_qty - qty_total) // lot
            if max_quote is not None:
                lots = min(lots, (max_quote - quote_total) // per_lot)
            if lots <= 0:
                return qty_total, quote_total
            qty_total += lots * lot
            quote_total += lots * per_lot
            if qty_total >= max_qty:
                return qty_total, quote_total
    return qty_total, quote_total


def match(
    book: SymbolBook,
    taker: Order,
    accounts: dict[str, Account],
    fee_account: Account,
    fees: FeeSchedule,
    max_quote: int | None,
    limit: int | None,
    ts: int,
    fills: list[Fill],
    trades: list[TradeEvent],
    retire: Callable[[Order], None],
) -> Stop:
    """Match ``taker`` (its ``remaining`` is the quantity bound) and settle every fill.

    ``max_quote`` bounds the quote value traded (spent by a buyer, received by a seller);
    ``limit`` is the taker's limit price in ticks, None for a market order. Makers that
    become filled or are expired by self-trade prevention are passed to ``retire``.
    """
    spec = book.spec
    lot, qpl = spec.lot_units, spec.quote_units_per_lot_tick
    base, quote = spec.base, spec.quote
    is_buy = taker.is_buy
    opp = book.asks if is_buy else book.bids
    opp_is_bid = not is_buy
    keys, levels, totals = opp.keys, opp.levels, opp.totals
    sign = -1 if is_buy else 1
    stp = taker.stp
    taker_name = taker.account
    taker_acct = accounts[taker_name]
    maker_bps, taker_bps = fees.maker_bps, fees.taker_bps
    fee_free = fee_account.free
    rem_quote = -1 if max_quote is None else max_quote
    while keys:
        price = sign * keys[-1]
        if limit is not None and (price > limit if is_buy else price < limit):
            return Stop.BOOK
        level = levels[price]
        per_lot = price * qpl
        while level:
            maker = level[0]
            if stp is not _NONE and maker.account == taker_name:
                if stp is not _EXPIRE_TAKER:
                    level.popleft()
                    totals[price] -= maker.remaining
                    book.changed(opp_is_bid, price, totals[price])
                    accounts[maker.account].unlock(quote if maker.is_buy else base, maker.reserved)
                    maker.reserved = 0
                    maker.status = OrderStatus.EXPIRED_IN_MATCH
                    maker.ts_updated = ts
                    retire(maker)
                if stp is not _EXPIRE_MAKER:
                    if not level:
                        opp.drop_level(price)
                    return Stop.STP
                continue
            lots = min(maker.remaining, taker.remaining) // lot
            if rem_quote >= 0:
                affordable = rem_quote // per_lot
                if affordable < lots:
                    lots = affordable
                    if lots == 0:
                        return Stop.QUOTE
                rem_quote -= lots * per_lot
            qty = lots * lot
            value = lots * per_lot
            maker_acct = accounts[maker.account]
            if is_buy:
                taker.reserved -= value
                taker_acct.locked[quote] -= value
                fee_t = -(-qty * taker_bps // 10_000) if taker_bps else 0
                taker_acct.free[base] += qty - fee_t
                fee_free[base] += fee_t
                maker.reserved -= qty
                maker_acct.locked[base] -= qty
                fee_m = -(-value * maker_bps // 10_000) if maker_bps else 0
                maker_acct.free[quote] += value - fee_m
                fee_free[quote] += fee_m
            else:
                taker.reserved -= qty
                taker_acct.locked[base] -= qty
                fee_t = -(-value * taker_bps // 10_000) if taker_bps else 0
                taker_acct.free[quote] += value - fee_t
                fee_free[quote] += fee_t
                maker.reserved -= value
                maker_acct.locked[quote] -= value
                fee_m = -(-qty * maker_bps // 10_000) if maker_bps else 0
                maker_acct.free[base] += qty - fee_m
                fee_free[base] += fee_m
            taker.remaining -= qty
            taker.executed += qty
            taker.cum_quote += value
            maker.remaining -= qty
            maker.executed += qty
            maker.cum_quote += value
            maker.ts_updated = ts
            total = totals[price] - qty
            totals[price] = total
            book.changed(opp_is_bid, price, total)
            trade_id = book.next_trade_id
            book.next_trade_id = trade_id + 1
            fills.append(
                Fill(trade_id, price, qty, value, fee_t, base if is_buy else quote, maker.order_id)
            )
            trades.append(
                TradeEvent(
                    symbol=spec.symbol,
                    trade_id=trade_id,
                    price=price,
                    qty=qty,
                    quote=value,
                    buyer_order_id=taker.order_id if is_buy else maker.order_id,
                    seller_order_id=maker.order_id if is_buy else taker.order_id,
                    buyer_account=taker_name if is_buy else maker.account,
                    seller_account=maker.account if is_buy else taker_name,
                    buyer_is_maker=not is_buy,
                    ts_event=ts,
                )
            )
            if maker.remaining == 0:
                level.popleft()
                maker.status = OrderStatus.FILLED
                retire(maker)
            else:
                maker.status = OrderStatus.PARTIALLY_FILLED
            if taker.remaining == 0:
                if not level:
                    opp.drop_level(price)
                return Stop.QTY
        opp.drop_level(price)
    return Stop.BOOK
