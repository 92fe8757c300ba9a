"""Seeded random markets over three chains and the venue, for optimality tests."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

from aggregator.market.snapshot import MarketSnapshot
from aggregator.models import AssetAt, BookLevel, Liquidity, Market, QuoteMode, QuoteRequest
from tests.router.factory import CHAIN_IDS, DECIMALS, USD, VENUE, at, book, pool, snapshot, units
from tests.router.sim import Node, RefPath, enumerate_paths

PAIRS = (("WETH", "USDC"), ("WBTC", "USDC"), ("WBTC", "WETH"))
LOCATIONS = (*CHAIN_IDS, VENUE)


@dataclass(frozen=True)
class Scenario:
    seed: int
    snapshot: MarketSnapshot
    request: QuoteRequest
    hop_limit: int
    caps: dict[Node, int]
    paths: list[RefPath]


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _random_book(rng: random.Random, base: str, quote: str) -> tuple[Market, Liquidity]:
    mid = USD[base] / USD[quote] * Decimal(str(1 + rng.uniform(-0.01, 0.01)))
    levels = rng.randint(3, 30)
    step = Decimal(rng.choice((1, 3, 10, 40))) / 10_000
    spread = Decimal(rng.randint(1, 20)) / 10_000
    q = Decimal("0.000001")
    usd_per_level = _log_uniform(rng, 2_000, 200_000)
    bids, asks = [], []
    for k in range(levels):
        size_b = units(base, round(usd_per_level * rng.uniform(0.3, 1.7) / float(USD[base]), 8))
        size_a = units(base, round(usd_per_level * rng.uniform(0.3, 1.7) / float(USD[base]), 8))
        bids.append(BookLevel((mid * (1 - spread - step * k)).quantize(q), max(size_b, 1)))
        asks.append(BookLevel((mid * (1 + spread + step * k)).quantize(q), max(size_a, 1)))
    return book(base, quote, bids, asks, fee_bps=rng.choice((0, 5, 10, 20)))


def _random_pool(
    rng: random.Random, where: str, base: str, quote: str, tag: str
) -> tuple[Market, Liquidity]:
    price = USD[base] / USD[quote] * Decimal(str(round(1 + rng.uniform(-0.01, 0.01), 6)))
    depth_usd = _log_uniform(rng, 30_000, 5_000_000)
    return pool(
        where,
        base,
        quote,
        base_amount=round(depth_usd / float(USD[base]), 6),
        price=price,
        fee_bps=rng.choice((5, 30, 100)),
        tag=tag,
    )


def _draw(seed: int, mode: QuoteMode) -> Scenario:
    rng = random.Random(seed)
    markets: list[tuple[Market, Liquidity]] = []
    for where in CHAIN_IDS:
        for base, quote in PAIRS:
            if rng.random() < 0.4:
                markets.append(_random_pool(rng, where, base, quote, ""))
                if rng.random() < 0.2:
                    markets.append(_random_pool(rng, where, base, quote, "b"))
    for base, quote in PAIRS:
        if rng.random() < 0.45:
            markets.append(_random_book(rng, base, quote))
    sell_asset, buy_asset = rng.sample(list(DECIMALS), 2) if rng.random() < 0.85 else ["WETH"] * 2
    sell = at(sell_asset, rng.choice(list(CHAIN_IDS)))
    buy = at(buy_asset, rng.choice(list(CHAIN_IDS)))
    if sell == buy:
        buy = at(buy_asset, next(c for c in CHAIN_IDS if c != sell.location.key))
    inventory: dict[AssetAt, int] = {}
    for asset in DECIMALS:
        for where in LOCATIONS:
            if rng.random() < 0.55:
                usd = _log_uniform(rng, 1_000, 3_000_000)
                inventory[at(asset, where)] = units(asset, round(usd / float(USD[asset]), 6))
    inventory[buy] = units(buy.asset, 50_000_000 / float(USD[buy.asset]))
    usd_amount = _log_uniform(rng, 200, 1_500_000)
    asset = sell.asset if mode is QuoteMode.EXACT_IN else buy.asset
    amount = units(asset, round(usd_amount / float(USD[asset]), 6))
    snap = snapshot(
        markets,
        inventory=inventory,
        gas_gwei={c: _log_uniform(rng, 0.01, 150) for c in CHAIN_IDS},
        transfer_bps=rng.choice((0, 3, 10)),
    )
    request = QuoteRequest(sell=sell, buy=buy, amount=max(amount, 1), mode=mode)
    hop_limit = rng.choice((2, 3, 3))
    caps = {(a.asset, a.location.key): v for a, v in inventory.items()}
    paths = enumerate_paths(
        snap, (sell.asset, sell.location.key), (buy.asset, buy.location.key), hop_limit, caps
    )
    return Scenario(seed, snap, request, hop_limit, caps, paths)


def scenarios(
    count: int, mode: QuoteMode, max_paths: int = 5, first_seed: int = 0
) -> list[Scenario]:
    """``count`` scenarios with between 2 and ``max_paths`` candidate paths (seeded)."""
    found: list[Scenario] = []
    seed = first_seed
    while len(found) < count:
        scenario = _draw(seed, mode)
        seed += 1
        if 2 <= len(scenario.paths) <= max_paths:
            found.append(scenario)
    return found


def at_seeds(seeds: tuple[int, ...], mode: QuoteMode) -> list[Scenario]:
    """The scenarios drawn from exactly these seeds (each must have two paths or more)."""
    found = [_draw(seed, mode) for seed in seeds]
    assert all(len(s.paths) >= 2 for s in found)
    return found
