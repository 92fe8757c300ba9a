"""Normalized liquidity: an L2 order book and a constant-product AMM curve.

Both share one interface (:class:`LiquidityView`):

* ``amount_out(amount_in, side)`` exact integer output, never more than
  executing would pay (books: level by level with lot rounding and per-fill
  flooring, then the taker fee; pools: Uniswap v2's ``getAmountOut``);
* ``amount_in(amount_out, side)`` the smallest input that yields at least
  ``amount_out`` (exact-output requests);
* ``marginal_price(side, filled_in)`` quote per base at the margin after a fill;
* ``depth_ladder(step_bps, levels)`` a book-like view at chosen price steps, so
  AMM depth can be shown and compared like a book.

Prices are quote per base in whole-token units (``Decimal``); sizes are base
units of the base asset.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from typing import NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aggregator.models.market import Side
from aggregator.models.units import BPS

__all__ = [
    "AmmCurve",
    "BookLevel",
    "DepthLadder",
    "Liquidity",
    "LiquidityView",
    "OrderBook",
]


class BookLevel(NamedTuple):
    price: Decimal
    """Quote per base, whole-token units."""
    size: int
    """Base units of the base asset."""


class DepthLadder(BaseModel):
    """Depth bucketed at fixed price steps from the mid: a book-shaped view of any source."""

    model_config = ConfigDict(frozen=True)

    market_id: str
    mid: Decimal
    step_bps: int
    bids: tuple[BookLevel, ...] = Field(description="Bucket bound price and base size, best first.")
    asks: tuple[BookLevel, ...]


@runtime_checkable
class LiquidityView(Protocol):
    market_id: str
    sequence: int
    ts_event: int
    ts_recv: int

    def amount_out(self, amount_in: int, side: Side) -> int: ...

    def amount_in(self, amount_out: int, side: Side) -> int | None: ...

    def marginal_price(self, side: Side, filled_in: int = 0) -> Decimal | None: ...

    def mid_price(self) -> Decimal | None: ...

    def depth_ladder(self, step_bps: int, levels: int) -> DepthLadder: ...


def _fee_off(amount: int, fee_bps: int) -> int:
    """Amount left after a fee, rounding the fee up (in the venue's favour)."""
    return amount - (amount * fee_bps + BPS - 1) // BPS


def _fee_on(net: int, fee_bps: int) -> int:
    """Smallest gross amount whose fee-off value is at least ``net``."""
    if fee_bps == 0:
        return net
    gross = -(-net * BPS // (BPS - fee_bps))
    while _fee_off(gross, fee_bps) < net:
        gross += 1
    while gross > 0 and _fee_off(gross - 1, fee_bps) >= net:
        gross -= 1
    return gross


class OrderBook(BaseModel):
    """An L2 book: bids descending, asks ascending, positive sizes.

    A crossed book can be represented (``is_crossed``) so that consistency
    checks can detect it; construction refuses unsorted sides and bad sizes.
    Use :meth:`trusted` to skip validation on a hot path for data already known
    to be well formed.
    """

    model_config = ConfigDict(frozen=True)

    market_id: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    base_decimals: int
    quote_decimals: int
    lot_size: int = Field(default=1, gt=0)
    fee_bps: int = Field(default=0, ge=0, lt=BPS)
    sequence: int = Field(description="The venue's update id of this state.")
    ts_event: int
    ts_recv: int

    @model_validator(mode="after")
    def _well_formed(self) -> OrderBook:
        for side, levels, desc in (("bids", self.bids, True), ("asks", self.asks, False)):
            for i, level in enumerate(levels):
                if level.size <= 0 or level.price <= 0:
                    raise ValueError(f"{side}[{i}] has a non-positive price or size")
                if i and (
                    level.price >= levels[i - 1].price
                    if desc
                    else level.price <= levels[i - 1].price
                ):
                    raise ValueError(
                        f"{side} not strictly {'descending' if desc else 'ascending'} at {i}"
                    )
        return self

    @classmethod
    def trusted(cls, **fields: object) -> OrderBook:
        return cls.model_construct(**fields)  # type: ignore[arg-type]

    @property
    def is_crossed(self) -> bool:
        return bool(self.bids and self.asks and self.bids[0].price >= self.asks[0].price)

    @cached_property
    def _scale(self) -> tuple[int, int]:
        return 10**self.quote_decimals, 10**self.base_decimals

    def _ratios(self, levels: tuple[BookLevel, ...]) -> list[tuple[int, int, int]]:
        qs, bs = self._scale
        out = []
        for price, size in levels:
            num, den = price.as_integer_ratio()
            out.append((num * qs, den * bs, size))
        return out

    @cached_property
    def _bid_ratios(self) -> list[tuple[int, int, int]]:
        return self._ratios(self.bids)

    @cached_property
    def _ask_ratios(self) -> list[tuple[int, int, int]]:
        return self._ratios(self.asks)

    def amount_out(self, amount_in: int, side: Side) -> int:
        if amount_in <= 0:
            return 0
        lot = self.lot_size
        out = 0
        remaining = amount_in
        if side is Side.SELL_BASE:
            remaining -= remaining % lot
            for num, den, size in self._bid_ratios:
                if remaining <= 0:
                    break
                take = min(size, remaining)
                out += take * num // den
                remaining -= take
        else:
            for num, den, size in self._ask_ratios:
                cost = -(-size * num // den)
                if remaining >= cost:
                    out += size
                    remaining -= cost
                    continue
                take = remaining * den // num
                take -= take % lot
                if take > 0:
                    out += take
                break
        return _fee_off(out, self.fee_bps)

    def amount_in(self, amount_out: int, side: Side) -> int | None:
        """Smallest input giving at least ``amount_out``; None if the book is too thin."""
        if amount_out <= 0:
            return 0
        gross = _fee_on(amount_out, self.fee_bps)
        lot = self.lot_size
        need = gross
        spent = 0
        if side is Side.SELL_BASE:
            for num, den, size in self._bid_ratios:
                full = size * num // den
                if full < need:
                    spent += size
                    need -= full
                    continue
                take = -(-need * den // num)
                take += (-take) % lot
                while take * num // den < need:
                    take += lot
                return spent + min(take, size)
            return None
        for num, den, size in self._ask_ratios:
            if size < need:
                spent += -(-size * num // den)
                need -= size
                continue
            take = min(need + (-need) % lot, size)
            return spent + -(-take * num // den)
        return None

    def marginal_price(self, side: Side, filled_in: int = 0) -> Decimal | None:
        levels = self.bids if side is Side.SELL_BASE else self.asks
        ratios = self._bid_ratios if side is Side.SELL_BASE else self._ask_ratios
        remaining = filled_in
        for (price, size), (num, den, _) in zip(levels, ratios, strict=True):
            consumed = size if side is Side.SELL_BASE else -(-size * num // den)
            if remaining < consumed:
                return price
            remaining -= consumed
        return None

    def mid_price(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2

    def depth_ladder(self, step_bps: int, levels: int) -> DepthLadder:
        mid = self.mid_price() or (
            self.bids[0].price if self.bids else self.asks[0].price if self.asks else Decimal(0)
        )
        return DepthLadder(
            market_id=self.market_id,
            mid=mid,
            step_bps=step_bps,
            bids=_bucket(self.bids, mid, step_bps, levels, descending=True),
            asks=_bucket(self.asks, mid, step_bps, levels, descending=False),
        )


def _bucket(
    levels: tuple[BookLevel, ...], mid: Decimal, step_bps: int, count: int, *, descending: bool
) -> tuple[BookLevel, ...]:
    sign = -1 if descending else 1
    bounds = [mid * (1 + Decimal(sign * step_bps * (k + 1)) / BPS) for k in range(count)]
    sizes = [0] * count
    k = 0
    for price, size in levels:
        while k < count and (price < bounds[k] if descending else price > bounds[k]):
            k += 1
        if k == count:
            break
        sizes[k] += size
    return tuple(BookLevel(b, s) for b, s in zip(bounds, sizes, strict=True) if b > 0)


class AmmCurve(BaseModel):
    """A constant-product pool's state, with Uniswap v2's exact integer formula."""

    model_config = ConfigDict(frozen=True)

    market_id: str
    pool: str = Field(description="Pool contract address.")
    reserve_base: int = Field(ge=0)
    reserve_quote: int = Field(ge=0)
    fee_bps: int = Field(ge=0, lt=BPS)
    base_decimals: int
    quote_decimals: int
    sequence: int = Field(description="Block number the reserves were read at.")
    ts_event: int = Field(description="Block timestamp, ns.")
    ts_recv: int

    def _reserves(self, side: Side) -> tuple[int, int]:
        if side is Side.SELL_BASE:
            return self.reserve_base, self.reserve_quote
        return self.reserve_quote, self.reserve_base

    def amount_out(self, amount_in: int, side: Side) -> int:
        if amount_in <= 0:
            return 0
        r_in, r_out = self._reserves(side)
        with_fee = amount_in * (BPS - self.fee_bps)
        return with_fee * r_out // (r_in * BPS + with_fee)

    def amount_in(self, amount_out: int, side: Side) -> int | None:
        if amount_out <= 0:
            return 0
        r_in, r_out = self._reserves(side)
        if amount_out >= r_out:
            return None
        return r_in * amount_out * BPS // ((r_out - amount_out) * (BPS - self.fee_bps)) + 1

    def _price(self, reserve_base: int, reserve_quote: int) -> Decimal | None:
        if reserve_base == 0:
            return None
        return (Decimal(reserve_quote) / Decimal(reserve_base)).scaleb(
            self.base_decimals - self.quote_decimals
        )

    def marginal_price(self, side: Side, filled_in: int = 0) -> Decimal | None:
        out = self.amount_out(filled_in, side)
        if side is Side.SELL_BASE:
            return self._price(self.reserve_base + filled_in, self.reserve_quote - out)
        return self._price(self.reserve_base - out, self.reserve_quote + filled_in)

    def mid_price(self) -> Decimal | None:
        return self._price(self.reserve_base, self.reserve_quote)

    def depth_ladder(self, step_bps: int, levels: int) -> DepthLadder:
        """Base size between successive price bounds (fee ignored, as a book's would be)."""
        mid = self.mid_price() or Decimal(0)
        k = self.reserve_base * self.reserve_quote
        raw_mid = Fraction(self.reserve_quote, self.reserve_base or 1)

        def base_at(factor: Fraction) -> int:
            # reserve_base at raw price P: sqrt(k / P)
            return math.isqrt(int(Fraction(k) / (raw_mid * factor)))

        bids, asks = [], []
        prev_b = prev_a = self.reserve_base
        for step in range(1, levels + 1):
            down = Fraction(BPS - step_bps * step, BPS)
            up = Fraction(BPS + step_bps * step, BPS)
            price_down = mid * Decimal(down.numerator) / Decimal(down.denominator)
            price_up = mid * Decimal(up.numerator) / Decimal(up.denominator)
            if down > 0:
                nb = base_at(down)
                bids.append(BookLevel(price_down, max(nb - prev_b, 0)))
                prev_b = nb
            na = base_at(up)
            asks.append(BookLevel(price_up, max(prev_a - na, 0)))
            prev_a = na
        return DepthLadder(
            market_id=self.market_id, mid=mid, step_bps=step_bps, bids=tuple(bids), asks=tuple(asks)
        )


Liquidity = OrderBook | AmmCurve
"""Any normalized source of liquidity."""
