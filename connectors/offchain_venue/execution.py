"""Turning an :class:`ExecutionRequest` into a LIMIT IOC order, and its answer into a result.

Pure functions; all amounts are exact integers (prices as fractions where they meet
amounts).

* SELL_BASE (base in): quantity is ``amount_in`` rounded down to the lot; the limit is
  the request's ``limit_price`` rounded *up* to the tick, or else the lowest price at
  which the whole quantity still yields ``min_amount_out`` after the taker fee, or else
  the venue's minimum price (sell at any price); never below the price at which the
  order's value would fall under the venue's minimum notional.
* BUY_BASE (quote in): the limit is ``limit_price`` rounded *down* to the tick, or else
  the highest price at which ``amount_in`` still buys ``min_amount_out`` after the fee
  (rounded up to the lot), or else the deepest ask level ``amount_in`` would reach in the
  current book; the quantity is what ``amount_in`` buys at that limit, rounded down to
  the lot. Fills at better prices spend less than ``amount_in``.

The result reports what executed: ``amount_in`` spent and ``amount_out`` received, net of
commissions charged in either asset. An IOC order may fill partly; its fills all honour
the limit price.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from aggregator.errors import VenueError, VenueRejectedError
from aggregator.models import BPS, OrderBook, Side
from aggregator.plugins.protocol import ExecutionRequest, ExecutionResult, Fill
from connectors.offchain_venue.convert import EXACT, MarketSpec, parse_scaled, scaled_decimal
from connectors.offchain_venue.schemas import OrderResponse

__all__ = ["OrderPlan", "client_order_id", "plan_order", "result_from_order"]

_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


def client_order_id(client_id: str) -> str:
    """The request's idempotency key in the venue's allowed alphabet (a digest if needed)."""
    if _CLIENT_ID.match(client_id):
        return client_id
    return "x-" + hashlib.sha256(client_id.encode()).hexdigest()[:32]


def _fee_on(net: int, fee_bps: int) -> int:
    """Smallest gross amount leaving at least ``net`` once a fee (rounded up) is taken."""
    if fee_bps == 0:
        return net
    gross = -(-net * BPS // (BPS - fee_bps))
    while gross - (gross * fee_bps + BPS - 1) // BPS < net:
        gross += 1
    return gross


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """A LIMIT IOC order: side, limit price (on the tick) and quantity (whole lots)."""

    symbol: str
    side: str
    price: Decimal
    quantity: int
    client_order_id: str

    def params(self, spec: MarketSpec) -> list[tuple[str, str]]:
        price = self.price.quantize(scaled_decimal(1, spec.price_scale), context=EXACT)
        quantity = scaled_decimal(self.quantity, spec.base_decimals)
        return [
            ("symbol", self.symbol),
            ("side", self.side),
            ("type", "LIMIT"),
            ("timeInForce", "IOC"),
            ("quantity", f"{quantity:f}"),
            ("price", f"{price:f}"),
            ("newClientOrderId", self.client_order_id),
            ("newOrderRespType", "FULL"),
        ]


def _to_tick(value: Fraction, tick: Decimal, *, up: bool) -> Decimal:
    steps = value / Fraction(tick)
    whole = -(-steps.numerator // steps.denominator) if up else steps.numerator // steps.denominator
    return EXACT.multiply(tick, Decimal(whole))


def _whole_price(quote_units: int, base_units: int, spec: MarketSpec) -> Fraction:
    """Quote per base in whole tokens for amounts given in base units."""
    return Fraction(quote_units * 10**spec.base_decimals, base_units * 10**spec.quote_decimals)


def _deepest_ask(book: OrderBook | None, amount_in: int) -> Decimal | None:
    if book is None or not book.asks:
        return None
    scale_q, scale_b = 10**book.quote_decimals, 10**book.base_decimals
    remaining = Fraction(amount_in)
    for price, size in book.asks:
        remaining -= Fraction(price) * size * scale_q / scale_b
        if remaining <= 0:
            return price
    return book.asks[-1].price


def plan_order(request: ExecutionRequest, spec: MarketSpec, book: OrderBook | None) -> OrderPlan:
    """The order to send for ``request``; VenueRejectedError if it cannot be a whole lot."""
    market = spec.market
    lot, tick = market.lot_size, market.tick_size
    cid = client_order_id(request.client_id)
    if request.side is Side.SELL_BASE:
        quantity = request.amount_in - request.amount_in % lot
        if quantity <= 0:
            raise VenueRejectedError(f"{market.id}: amount_in is less than one lot ({lot})")
        if request.limit_price is not None:
            price = _to_tick(Fraction(request.limit_price), tick, up=True)
        elif request.min_amount_out > 0:
            gross = _fee_on(request.min_amount_out, market.fee_bps)
            price = _to_tick(_whole_price(gross, quantity, spec), tick, up=True)
        else:
            price = spec.min_price
        # A limit below min_notional / quantity would be refused by the venue's filter.
        floor = Fraction(spec.min_notional) / Fraction(quantity, 10**spec.base_decimals)
        price = max(price, _to_tick(floor, tick, up=True), tick)
        return OrderPlan(market.symbol, "SELL", price, quantity, cid)
    if request.limit_price is not None:
        price = _to_tick(Fraction(request.limit_price), tick, up=False)
    elif request.min_amount_out > 0:
        gross = _fee_on(request.min_amount_out, market.fee_bps)
        gross += (-gross) % lot
        price = _to_tick(_whole_price(request.amount_in, gross, spec), tick, up=False)
    else:
        deepest = _deepest_ask(book, request.amount_in)
        if deepest is None:
            raise VenueRejectedError(f"{market.id}: no asks to buy from and no limit given")
        price = deepest
    if price <= 0:
        raise VenueRejectedError(f"{market.id}: amount_in cannot buy min_amount_out")
    num, den = Fraction(price).as_integer_ratio()
    quantity = request.amount_in * den * 10**spec.base_decimals // (num * 10**spec.quote_decimals)
    quantity -= quantity % lot
    if quantity <= 0:
        raise VenueRejectedError(f"{market.id}: amount_in buys less than one lot at {price}")
    return OrderPlan(market.symbol, "BUY", price, quantity, cid)


def result_from_order(
    request: ExecutionRequest,
    spec: MarketSpec,
    response: OrderResponse,
    decimals: Mapping[str, int],
    ts_recv: int,
) -> ExecutionResult:
    """The executed amounts of a FULL order response, as exact integers.

    ``decimals`` gives the decimals of any commission asset; a commission in an asset
    with unknown decimals is reported with a fee of 0 and its asset name.
    """
    base, quote = spec.market.base.asset, spec.market.quote.asset
    selling = request.side is Side.SELL_BASE
    fills: list[Fill] = []
    base_total = quote_total = fee_base = fee_quote = 0
    try:
        for wire in response.fills:
            price = Decimal(wire.price)
            qty = parse_scaled(wire.qty, spec.base_decimals)
            value = Fraction(price) * qty * 10**spec.quote_decimals / 10**spec.base_decimals
            quote_units = value.numerator // value.denominator
            if not selling and value.denominator != 1:
                quote_units += 1
            asset = wire.commissionAsset
            places = decimals.get(asset) if asset else None
            fee = parse_scaled(wire.commission, places) if places is not None else 0
            if asset == base:
                fee_base += fee
            elif asset == quote:
                fee_quote += fee
            fills.append(
                Fill(
                    price=price, base_amount=qty, quote_amount=quote_units, fee=fee, fee_asset=asset
                )
            )
            base_total += qty
            quote_total += quote_units
    except ValueError as exc:
        raise VenueError(f"{spec.market.id}: malformed fill in order response: {exc}") from exc
    if selling:
        amount_in, amount_out = base_total + fee_base, quote_total - fee_quote
    else:
        amount_in, amount_out = quote_total + fee_quote, base_total - fee_base
    return ExecutionResult(
        market_id=spec.market.id,
        side=request.side,
        amount_in=amount_in,
        amount_out=amount_out,
        fills=tuple(fills),
        order_id=str(response.orderId),
        ts_event=response.transactTime * 1_000_000,
        ts_recv=ts_recv,
    )
