"""One parsing step from the venue's wire schemas to the domain models.

Prices are parsed from the venue's strings exactly: into ``Decimal`` for the domain and,
on the hot path, into integers in units of ``10**-price_scale`` (the tick's decimal
places), so that book levels are keyed and compared as plain integers. Quantities become
base units of the base asset, using the asset's decimals from the registry. A string with
more precision than its scale allows is refused (``ValueError``): it cannot be represented
exactly, and rounding it would silently change the book.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation

from aggregator.errors import UnknownAssetError
from aggregator.models import (
    AssetRegistry,
    BookLevel,
    Location,
    Market,
    MarketKind,
    OrderBook,
)
from connectors.offchain_venue.schemas import (
    AccountInfo,
    DepthSnapshot,
    ExchangeInfo,
    PriceLevel,
    SymbolInfo,
)

__all__ = [
    "EXACT",
    "Balance",
    "MarketSpec",
    "balances_from_account",
    "book_from_snapshot",
    "decimal_places",
    "market_specs",
    "parse_scaled",
    "scaled_decimal",
]

EXACT = Context(prec=160)
"""Enough digits for any 256-bit amount at any scale: arithmetic in it never rounds."""


def scaled_decimal(value: int, places: int) -> Decimal:
    """``value * 10**-places`` as an exact ``Decimal``."""
    return Decimal(value).scaleb(-places, context=EXACT)


def decimal_places(value: Decimal) -> int:
    """Digits after the point needed to write ``value`` exactly."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


_POW10: tuple[int, ...] = tuple(10**i for i in range(80))


def parse_scaled(text: str, scale: int) -> int:
    """A non-negative decimal string as an integer in units of ``10**-scale``, exactly.

    ``parse_scaled("3000.12000000", 2) == 300012``. Raises ``ValueError`` for anything
    that is not plain ASCII digits with an optional point, or that has non-zero digits
    beyond ``scale`` places.
    """
    whole, _, frac = text.partition(".")
    places = len(frac)
    if places > scale:
        if frac[scale:].strip("0"):
            raise ValueError(f"{text!r} has more than {scale} decimals")
        frac = frac[:scale]
        places = scale
    if not whole.isdigit() or not (frac.isdigit() or not frac) or not text.isascii():
        raise ValueError(f"{text!r} is not a decimal number")
    return int(whole + frac) * _POW10[scale - places]


_PRICE_CACHE_SIZE = 1 << 16


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """A venue symbol as a domain :class:`Market` plus the scales used to parse its wire data."""

    market: Market
    price_scale: int
    """Decimal places of the tick size: book prices are integers in ``10**-price_scale``."""
    base_decimals: int
    quote_decimals: int
    min_price: Decimal
    max_price: Decimal | None
    min_notional: Decimal = Decimal(0)
    """Smallest ``price * quantity`` of an order (NOTIONAL or MIN_NOTIONAL filter)."""
    _prices: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    """Parsed price strings: a book's prices repeat, so most lookups hit."""

    @property
    def symbol(self) -> str:
        return self.market.symbol

    def price(self, scaled: int) -> Decimal:
        """An integer price key back to the exact ``Decimal``."""
        return scaled_decimal(scaled, self.price_scale)

    def levels(self, wire: tuple[PriceLevel, ...]) -> list[tuple[int, int]]:
        """Wire levels as ``(price_key, size_base_units)``; ``ValueError`` if malformed."""
        prices, scale, decimals = self._prices, self.price_scale, self.base_decimals
        out = []
        for p, q in wire:
            price = prices.get(p)
            if price is None:
                price = parse_scaled(p, scale)
                if len(prices) >= _PRICE_CACHE_SIZE:
                    prices.clear()
                prices[p] = price
            out.append((price, parse_scaled(q, decimals)))
        return out


def _decimal(text: str | None, what: str) -> Decimal:
    if text is None:
        raise ValueError(f"missing {what}")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what} {text!r} is not a decimal") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} {text!r} is not a non-negative decimal")
    return value


def _units(value: Decimal, decimals: int, what: str) -> int:
    scaled = value.scaleb(decimals, context=EXACT)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {value} is finer than {decimals} decimals")
    return int(scaled)


def _canonical(info: SymbolInfo, registry: AssetRegistry) -> tuple[str, str]:
    try:
        pair = registry.venue_pair(info.symbol)
        return pair.base, pair.quote
    except UnknownAssetError:
        registry.asset(info.baseAsset)
        registry.asset(info.quoteAsset)
        return info.baseAsset, info.quoteAsset


def _spec(info: SymbolInfo, registry: AssetRegistry, venue: str, fee_bps: int) -> MarketSpec:
    base, quote = _canonical(info, registry)
    base_decimals = registry.decimals(base)
    quote_decimals = registry.decimals(quote)
    price_filter = info.filter("PRICE_FILTER")
    lot_filter = info.filter("LOT_SIZE")
    if price_filter is None or lot_filter is None:
        raise ValueError("no PRICE_FILTER or LOT_SIZE filter")
    tick = _decimal(price_filter.tickSize, "tickSize")
    step = _decimal(lot_filter.stepSize, "stepSize")
    if tick <= 0 or step <= 0:
        raise ValueError("tickSize and stepSize must be positive")
    min_qty = _decimal(lot_filter.minQty or "0", "minQty")
    min_price = _decimal(price_filter.minPrice or "0", "minPrice")
    max_price = _decimal(price_filter.maxPrice or "0", "maxPrice")
    notional = info.filter("NOTIONAL") or info.filter("MIN_NOTIONAL")
    min_notional = _decimal(notional.minNotional or "0", "minNotional") if notional else Decimal(0)
    location = Location.venue(venue)
    market = Market(
        id=f"{venue}:{info.symbol}",
        venue=venue,
        kind=MarketKind.BOOK,
        location=location,
        base=registry.at(base, location),
        quote=registry.at(quote, location),
        symbol=info.symbol,
        tick_size=tick,
        lot_size=_units(step, base_decimals, "stepSize"),
        min_size=_units(min_qty, base_decimals, "minQty"),
        fee_bps=fee_bps,
    )
    return MarketSpec(
        market=market,
        price_scale=decimal_places(tick),
        base_decimals=base_decimals,
        quote_decimals=quote_decimals,
        min_price=max(min_price, tick),
        max_price=max_price if max_price > 0 else None,
        min_notional=min_notional,
    )


def market_specs(
    info: ExchangeInfo,
    registry: AssetRegistry,
    venue: str,
    *,
    symbols: Collection[str] | None = None,
    fee_bps: int = 0,
) -> tuple[list[MarketSpec], dict[str, str]]:
    """The venue's trading symbols as markets, and the symbols left out with the reason."""
    specs: list[MarketSpec] = []
    skipped: dict[str, str] = {}
    for item in info.symbols:
        if symbols is not None and item.symbol not in symbols:
            continue
        if item.status != "TRADING":
            skipped[item.symbol] = f"status {item.status}"
            continue
        try:
            specs.append(_spec(item, registry, venue, fee_bps))
        except UnknownAssetError as exc:
            skipped[item.symbol] = exc.message
        except ValueError as exc:
            skipped[item.symbol] = str(exc)
    return specs, skipped


def book_from_snapshot(snapshot: DepthSnapshot, spec: MarketSpec, ts_recv: int) -> OrderBook:
    """A REST depth snapshot as a validated :class:`OrderBook` at ``lastUpdateId``.

    The venue's snapshot carries no event time, so ``ts_event`` is the receive time.
    """

    def side(wire: tuple[PriceLevel, ...]) -> tuple[BookLevel, ...]:
        return tuple(BookLevel(spec.price(p), q) for p, q in spec.levels(wire) if q > 0)

    market = spec.market
    return OrderBook(
        market_id=market.id,
        bids=side(snapshot.bids),
        asks=side(snapshot.asks),
        base_decimals=spec.base_decimals,
        quote_decimals=spec.quote_decimals,
        lot_size=market.lot_size,
        fee_bps=market.fee_bps,
        sequence=snapshot.lastUpdateId,
        ts_event=ts_recv,
        ts_recv=ts_recv,
    )


@dataclass(frozen=True, slots=True)
class Balance:
    """One asset of the venue account, in base units."""

    asset: str
    free: int
    locked: int


def balances_from_account(account: AccountInfo, decimals: Mapping[str, int]) -> dict[str, Balance]:
    """The account's balances of the assets with known decimals (others are not tradable)."""
    out: dict[str, Balance] = {}
    for item in account.balances:
        places = decimals.get(item.asset)
        if places is None:
            continue
        out[item.asset] = Balance(
            asset=item.asset,
            free=parse_scaled(item.free, places),
            locked=parse_scaled(item.locked, places),
        )
    return out
