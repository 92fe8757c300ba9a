"""Builders of markets, chain states and snapshots for router tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from decimal import Decimal

from aggregator.market.snapshot import ChainState, InventoryLine, MarketSnapshot, TransferCost
from aggregator.models import (
    AmmCurve,
    AssetAt,
    BookLevel,
    Exclusion,
    Liquidity,
    Location,
    Market,
    MarketKind,
    OrderBook,
)

CHAIN_IDS = {"alpha": 31_337, "beta": 31_338, "gamma": 31_339}
VENUE = "clob"
DECIMALS = {"USDC": 6, "WETH": 18, "WBTC": 8}
USD = {"USDC": Decimal(1), "WETH": Decimal(3000), "WBTC": Decimal(60000)}
GWEI = 10**9


def loc(key: str) -> Location:
    if key == VENUE:
        return Location.venue(VENUE)
    return Location.chain(key, CHAIN_IDS[key])


def at(asset: str, where: str) -> AssetAt:
    return AssetAt(asset=asset, location=loc(where))


def units(asset: str, amount: float | int | str) -> int:
    return int(Decimal(str(amount)) * 10 ** DECIMALS[asset])


def pool(
    where: str,
    base: str,
    quote: str,
    *,
    base_amount: float | str,
    price: float | str | Decimal | None = None,
    fee_bps: int = 30,
    min_size: int = 0,
    tag: str = "",
) -> tuple[Market, AmmCurve]:
    """A pool holding ``base_amount`` whole base tokens at ``price`` (quote per base)."""
    p = Decimal(str(price)) if price is not None else USD[base] / USD[quote]
    reserve_base = units(base, base_amount)
    reserve_quote = int(Decimal(str(base_amount)) * p * 10 ** DECIMALS[quote])
    market_id = f"{where}:{base}{quote}{tag}"
    address = "0x" + hashlib.sha256(market_id.encode()).hexdigest()[:40]
    market = Market(
        id=market_id,
        venue=f"{where}-amm",
        kind=MarketKind.AMM,
        location=loc(where),
        base=at(base, where),
        quote=at(quote, where),
        symbol=f"{base}/{quote}",
        tick_size=Decimal("0.000001"),
        lot_size=1,
        min_size=min_size,
        fee_bps=fee_bps,
        address=address,
    )
    curve = AmmCurve(
        market_id=market_id,
        pool=address,
        reserve_base=reserve_base,
        reserve_quote=reserve_quote,
        fee_bps=fee_bps,
        base_decimals=DECIMALS[base],
        quote_decimals=DECIMALS[quote],
        sequence=1,
        ts_event=1,
        ts_recv=1,
    )
    return market, curve


def ladder(
    mid: Decimal, step_bps: int, levels: int, size: int, spread_bps: int = 5
) -> tuple[tuple[BookLevel, ...], tuple[BookLevel, ...]]:
    """Bids and asks around ``mid``: ``levels`` levels ``step_bps`` apart, ``size`` each."""
    q = Decimal("0.00000001")
    bids = tuple(
        BookLevel((mid * (1 - Decimal(spread_bps + k * step_bps) / 10_000)).quantize(q), size)
        for k in range(levels)
    )
    asks = tuple(
        BookLevel((mid * (1 + Decimal(spread_bps + k * step_bps) / 10_000)).quantize(q), size)
        for k in range(levels)
    )
    return bids, asks


def book(
    base: str,
    quote: str,
    bids: Iterable[BookLevel],
    asks: Iterable[BookLevel],
    *,
    fee_bps: int = 10,
    lot_size: int = 1,
    min_size: int = 0,
    venue: str = VENUE,
) -> tuple[Market, OrderBook]:
    market_id = f"{venue}:{base}{quote}"
    market = Market(
        id=market_id,
        venue=venue,
        kind=MarketKind.BOOK,
        location=Location.venue(venue),
        base=AssetAt(asset=base, location=Location.venue(venue)),
        quote=AssetAt(asset=quote, location=Location.venue(venue)),
        symbol=f"{base}{quote}",
        tick_size=Decimal("0.00000001"),
        lot_size=lot_size,
        min_size=min_size,
        fee_bps=fee_bps,
    )
    ob = OrderBook(
        market_id=market_id,
        bids=tuple(bids),
        asks=tuple(asks),
        base_decimals=DECIMALS[base],
        quote_decimals=DECIMALS[quote],
        lot_size=lot_size,
        fee_bps=fee_bps,
        sequence=1,
        ts_event=1,
        ts_recv=1,
    )
    return market, ob


def chain_state(
    key: str, gas_gwei: float = 1.0, block_time_s: float = 1.0, confirmations: int = 2
) -> ChainState:
    return ChainState(
        key=key,
        chain_id=CHAIN_IDS[key],
        head=100,
        head_time=1_700_000_000,
        block_time_s=block_time_s,
        confirmations=confirmations,
        base_fee_wei=int(gas_gwei * GWEI),
        priority_fee_wei=0,
        native_asset="WETH",
        ts_recv=1,
    )


def snapshot(
    markets: Iterable[tuple[Market, Liquidity]],
    *,
    inventory: Mapping[AssetAt, int] | None = None,
    gas_gwei: Mapping[str, float] | None = None,
    venues: Iterable[str] | None = None,
    excluded: Iterable[Exclusion] = (),
    transfer_bps: int = 5,
    transfer_gas: int = 65_000,
    without_liquidity: Iterable[str] = (),
) -> MarketSnapshot:
    pairs = list(markets)
    gas = {key: 1.0 for key in CHAIN_IDS} | dict(gas_gwei or {})
    missing = set(without_liquidity)
    market_map = {m.id: m for m, _ in pairs}
    liquidity = {m.id: liq for m, liq in pairs if m.id not in missing}
    if inventory is None:
        inventory = {
            at(asset, where): units(asset, 50_000_000 / float(USD[asset]))
            for asset in DECIMALS
            for where in (*CHAIN_IDS, VENUE)
        }
    topology = hashlib.sha256(
        "|".join(sorted(f"{m.id}@{m.location.key}" for m in market_map.values())).encode()
    ).hexdigest()
    return MarketSnapshot(
        ts_recv=1_000,
        markets=market_map,
        liquidity=liquidity,
        chains={key: chain_state(key, gas[key]) for key in CHAIN_IDS},
        inventory=tuple(InventoryLine(asset_at=a, available=v) for a, v in inventory.items()),
        transfer_cost=TransferCost(bps=transfer_bps, gas=transfer_gas),
        reference_prices=dict(USD),
        venues=tuple(venues) if venues is not None else tuple(sorted({m.venue for m, _ in pairs})),
        excluded=tuple(excluded),
        topology_key=topology,
    )
