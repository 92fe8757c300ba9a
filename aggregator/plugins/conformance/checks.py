"""Pure checks behind the conformance cases; each returns what is wrong, in words.

An empty list means the check passed. Checks never trust a model's own
validation: data built with ``model_construct`` skipped it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aggregator.models.liquidity import AmmCurve, BookLevel, Liquidity, OrderBook
from aggregator.models.market import Market, MarketKind
from aggregator.plugins.protocol import Capabilities, Capability, LiquidityUpdate

__all__ = [
    "check_book",
    "check_capabilities",
    "check_curve",
    "check_markets",
    "check_sequences",
    "compare_liquidity",
    "liquidity_problems",
]


def check_capabilities(caps: Capabilities) -> list[str]:
    problems = []
    both = set(caps.supported) & set(caps.unsupported)
    if both:
        names = ", ".join(sorted(c.value for c in both))
        problems.append(f"capabilities both supported and unsupported: {names}")
    for cap, reason in caps.unsupported.items():
        if not isinstance(reason, str) or not reason.strip():
            problems.append(f"capability {cap.value!r} is unsupported without a reason")
    undeclared = [
        c.value for c in Capability if c not in caps.supported and c not in caps.unsupported
    ]
    if undeclared:
        problems.append(
            "capabilities neither supported nor declared unsupported: " + ", ".join(undeclared)
        )
    if not ({Capability.BOOKS, Capability.AMM} & set(caps.supported)):
        problems.append("the connector supports neither books nor AMM curves")
    return problems


def check_markets(connector_name: str, markets: Sequence[Market], caps: Capabilities) -> list[str]:
    problems = []
    if not markets:
        return ["the connector serves no markets"]
    seen: set[str] = set()
    for m in markets:
        where = f"market {m.id!r}"
        if m.id in seen:
            problems.append(f"{where} is listed twice")
        seen.add(m.id)
        if m.venue != connector_name:
            problems.append(f"{where} has venue {m.venue!r}, the connector is {connector_name!r}")
        if m.base.asset == m.quote.asset:
            problems.append(f"{where} trades {m.base.asset} against itself")
        if m.base.location != m.location or m.quote.location != m.location:
            problems.append(
                f"{where} is at {m.location.key} but its assets are at "
                f"{m.base.location.key} and {m.quote.location.key}"
            )
        if m.tick_size <= 0 or m.lot_size <= 0 or m.min_size < 0:
            problems.append(f"{where} has a non-positive tick or lot size, or a negative minimum")
        if not 0 <= m.fee_bps < 10_000:
            problems.append(f"{where} has fee_bps {m.fee_bps} outside [0, 10000)")
        if m.kind is MarketKind.BOOK and Capability.BOOKS not in caps.supported:
            problems.append(f"{where} is a book but the connector does not declare 'books'")
        if m.kind is MarketKind.AMM:
            if Capability.AMM not in caps.supported:
                problems.append(f"{where} is an AMM pool but the connector does not declare 'amm'")
            if not m.address:
                problems.append(f"{where} is an AMM pool without a pool address")
    return problems


def _check_side(name: str, levels: Sequence[BookLevel], descending: bool) -> list[str]:
    problems = []
    for i, (price, size) in enumerate(levels):
        if not isinstance(size, int) or size <= 0:
            problems.append(f"{name}[{i}] has size {size!r}; sizes must be positive integers")
        if price <= 0:
            problems.append(f"{name}[{i}] has non-positive price {price}")
        if i:
            prev = levels[i - 1].price
            if (price >= prev) if descending else (price <= prev):
                order = "descending" if descending else "ascending"
                problems.append(f"{name} not strictly {order}: [{i - 1}] {prev} then [{i}] {price}")
    return problems


def check_book(market: Market, book: OrderBook) -> list[str]:
    where = f"book {market.id!r} at sequence {book.sequence}"
    problems = [f"{where}: {p}" for p in _check_side("bids", book.bids, descending=True)]
    problems += [f"{where}: {p}" for p in _check_side("asks", book.asks, descending=False)]
    if book.market_id != market.id:
        problems.append(f"{where}: carries market_id {book.market_id!r}")
    if book.bids and book.asks and book.bids[0].price >= book.asks[0].price:
        problems.append(
            f"{where}: crossed, best bid {book.bids[0].price} >= best ask {book.asks[0].price}"
        )
    return problems


def check_curve(market: Market, curve: AmmCurve) -> list[str]:
    where = f"curve {market.id!r} at sequence {curve.sequence}"
    problems = []
    if curve.reserve_base <= 0 or curve.reserve_quote <= 0:
        problems.append(
            f"{where}: non-positive reserves ({curve.reserve_base}, {curve.reserve_quote})"
        )
    if curve.market_id != market.id:
        problems.append(f"{where}: carries market_id {curve.market_id!r}")
    if market.address and curve.pool.lower() != market.address.lower():
        problems.append(f"{where}: pool {curve.pool} differs from the market's {market.address}")
    if curve.fee_bps != market.fee_bps:
        problems.append(
            f"{where}: fee {curve.fee_bps} bps differs from the market's {market.fee_bps}"
        )
    return problems


def liquidity_problems(market: Market, liquidity: Liquidity) -> list[str]:
    """Shape checks for whichever kind of liquidity a market serves."""
    if market.kind is MarketKind.BOOK:
        if not isinstance(liquidity, OrderBook):
            return [f"market {market.id!r} is a book but serves a {type(liquidity).__name__}"]
        return check_book(market, liquidity)
    if not isinstance(liquidity, AmmCurve):
        return [f"market {market.id!r} is an AMM pool but serves a {type(liquidity).__name__}"]
    return check_curve(market, liquidity)


def check_sequences(updates: Iterable[LiquidityUpdate], known: Iterable[str]) -> list[str]:
    problems = []
    known_ids = set(known)
    last: dict[str, int] = {}
    for n, update in enumerate(updates):
        liq = update.liquidity
        if update.market_id not in known_ids:
            problems.append(f"update #{n} is for unknown market {update.market_id!r}")
            continue
        if liq.market_id != update.market_id:
            problems.append(
                f"update #{n} for {update.market_id!r} carries liquidity of {liq.market_id!r}"
            )
        for field in ("sequence", "ts_event", "ts_recv"):
            value = getattr(liq, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(f"update #{n} for {update.market_id!r} has {field} {value!r}")
        prev = last.get(update.market_id)
        if prev is not None and liq.sequence <= prev:
            problems.append(
                f"update #{n} for {update.market_id!r} has sequence {liq.sequence} "
                f"after {prev}; sequences must strictly increase"
            )
        last[update.market_id] = liq.sequence
    return problems


def _level_diff(name: str, ours: Sequence[BookLevel], theirs: Sequence[BookLevel]) -> str | None:
    for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        if a.price != b.price or a.size != b.size:
            return (
                f"{name}[{i}] is ({a.price}, {a.size}) here but ({b.price}, {b.size}) at the source"
            )
    if len(ours) != len(theirs):
        return f"{name} has {len(ours)} levels here but {len(theirs)} at the source"
    return None


def compare_liquidity(ours: Liquidity, fresh: Liquidity) -> list[str]:
    """Differences between the connector's state and a fresh snapshot at one sequence."""
    if type(ours) is not type(fresh):
        return [f"kinds differ: {type(ours).__name__} here, {type(fresh).__name__} at the source"]
    if isinstance(ours, OrderBook) and isinstance(fresh, OrderBook):
        return [
            d
            for d in (
                _level_diff("bids", ours.bids, fresh.bids),
                _level_diff("asks", ours.asks, fresh.asks),
            )
            if d
        ]
    assert isinstance(ours, AmmCurve) and isinstance(fresh, AmmCurve)
    if (ours.reserve_base, ours.reserve_quote) != (fresh.reserve_base, fresh.reserve_quote):
        return [
            f"reserves are ({ours.reserve_base}, {ours.reserve_quote}) here but "
            f"({fresh.reserve_base}, {fresh.reserve_quote}) at the source"
        ]
    if ours.fee_bps != fresh.fee_bps:
        return [f"fee is {ours.fee_bps} bps here but {fresh.fee_bps} at the source"]
    return []
