"""Quote computation time and output against the best single path, on a devnet-like market.

The market is built here, synthetically: three chains (alpha, beta, gamma) with a
WETH/USDC, a WBTC/USDC and a WBTC/WETH constant-product pool each (prices a few
basis points apart per chain), and the venue with three 500-level books; the
resolver holds inventory everywhere. For each request the bench prints the
quote's p50 and p99 compute time in three regimes, measured in the same run:

* warm: the same snapshot again (paths and per-snapshot structures cached);
* new snapshot: a fresh snapshot object of the same topology each time (paths
  cached, per-snapshot structures rebuilt), as when a new block arrives;
* uncached: a new router each time (graph, paths and structures rebuilt), the
  baseline the ratios are taken against;

and the quote's output against the best single path.

    .venv/bin/python bench/bench_router.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from functools import partial

from aggregator.market.snapshot import ChainState, InventoryLine, MarketSnapshot, TransferCost
from aggregator.models import (
    AmmCurve,
    AssetAt,
    BookLevel,
    Liquidity,
    Location,
    Market,
    MarketKind,
    OrderBook,
    Quote,
    QuoteMode,
    QuoteRequest,
)
from aggregator.router import Router

CHAINS = {"alpha": 31_337, "beta": 31_338, "gamma": 31_339}
DECIMALS = {"USDC": 6, "WETH": 18, "WBTC": 8}
USD = {"USDC": Decimal(1), "WETH": Decimal(3000), "WBTC": Decimal(60000)}
PAIRS = (("WETH", "USDC"), ("WBTC", "USDC"), ("WBTC", "WETH"))
OFFSET_BPS = {"alpha": -15, "beta": 0, "gamma": 20}
POOL_USD = 3_000_000
VENUE = Location.venue("clob")


def _loc(key: str) -> Location:
    return VENUE if key == "clob" else Location.chain(key, CHAINS[key])


def _at(asset: str, key: str) -> AssetAt:
    return AssetAt(asset=asset, location=_loc(key))


def _units(asset: str, whole: Decimal | float) -> int:
    return int(Decimal(str(whole)) * 10 ** DECIMALS[asset])


def _market(mid: str, venue: str, kind: MarketKind, where: str, base: str, quote: str) -> Market:
    return Market(
        id=mid,
        venue=venue,
        kind=kind,
        location=_loc(where),
        base=_at(base, where),
        quote=_at(quote, where),
        symbol=f"{base}{quote}",
        tick_size=Decimal("0.01"),
        lot_size=1,
        min_size=0,
        fee_bps=30 if kind is MarketKind.AMM else 10,
        address="0x" + f"{abs(hash(mid)):040x}"[:40] if kind is MarketKind.AMM else None,
    )


def build_markets() -> list[tuple[Market, Liquidity]]:
    out: list[tuple[Market, Liquidity]] = []
    for chain in CHAINS:
        for base, quote in PAIRS:
            price = USD[base] / USD[quote] * (1 + Decimal(OFFSET_BPS[chain]) / 10_000)
            reserve_base = _units(base, Decimal(POOL_USD) / USD[base])
            reserve_quote = _units(quote, Decimal(POOL_USD) / USD[base] * price)
            mid = f"{chain}:{base}{quote}"
            market = _market(mid, f"{chain}-amm", MarketKind.AMM, chain, base, quote)
            curve = AmmCurve(
                market_id=mid,
                pool=market.address or "",
                reserve_base=reserve_base,
                reserve_quote=reserve_quote,
                fee_bps=30,
                base_decimals=DECIMALS[base],
                quote_decimals=DECIMALS[quote],
                sequence=100,
                ts_event=1,
                ts_recv=1,
            )
            out.append((market, curve))
    for base, quote in PAIRS:
        mid = f"clob:{base}{quote}"
        price = USD[base] / USD[quote]
        size = _units(base, Decimal(2_000) / USD[base])
        step = price / 10_000
        bids = tuple(BookLevel(price - step * (k + 2), size) for k in range(500))
        asks = tuple(BookLevel(price + step * (k + 2), size) for k in range(500))
        book = OrderBook(
            market_id=mid,
            bids=bids,
            asks=asks,
            base_decimals=DECIMALS[base],
            quote_decimals=DECIMALS[quote],
            fee_bps=10,
            sequence=1,
            ts_event=1,
            ts_recv=1,
        )
        out.append((_market(mid, "clob", MarketKind.BOOK, "clob", base, quote), book))
    return out


def build_snapshot(markets: list[tuple[Market, Liquidity]], ts: int = 1) -> MarketSnapshot:
    chains = {
        key: ChainState(
            key=key,
            chain_id=cid,
            head=100,
            head_time=1_700_000_000,
            block_time_s=1.0,
            confirmations=2,
            base_fee_wei=1_000_000_000,
            priority_fee_wei=100_000_000,
            native_asset="WETH",
            ts_recv=ts,
        )
        for key, cid in CHAINS.items()
    }
    inventory = tuple(
        InventoryLine(asset_at=_at(asset, where), available=_units(asset, 2_000_000 / USD[asset]))
        for asset in DECIMALS
        for where in (*CHAINS, "clob")
    )
    return MarketSnapshot.model_construct(
        ts_recv=ts,
        markets={m.id: m for m, _ in markets},
        liquidity={m.id: liq for m, liq in markets},
        chains=chains,
        inventory=inventory,
        transfer_cost=TransferCost(bps=5, gas=65_000),
        reference_prices=dict(USD),
        venues=(*(f"{c}-amm" for c in CHAINS), "clob"),
        excluded=(),
        topology_key="devnet-like",
    )


REQUESTS: list[tuple[str, QuoteRequest]] = [
    (
        "USDC@alpha -> WETH@beta $10k",
        QuoteRequest(
            sell=_at("USDC", "alpha"), buy=_at("WETH", "beta"), amount=_units("USDC", 10_000)
        ),
    ),
    (
        "USDC@alpha -> WETH@beta $1M",
        QuoteRequest(
            sell=_at("USDC", "alpha"), buy=_at("WETH", "beta"), amount=_units("USDC", 1_000_000)
        ),
    ),
    (
        "WETH@gamma -> WBTC@alpha 200 WETH",
        QuoteRequest(
            sell=_at("WETH", "gamma"), buy=_at("WBTC", "alpha"), amount=_units("WETH", 200)
        ),
    ),
    (
        "USDC@beta -> WETH@beta 100 WETH out",
        QuoteRequest(
            sell=_at("USDC", "beta"),
            buy=_at("WETH", "beta"),
            amount=_units("WETH", 100),
            mode=QuoteMode.EXACT_OUT,
        ),
    ),
]


def _on_new_snapshot(
    router: Router | None, markets: list[tuple[Market, Liquidity]], request: QuoteRequest
) -> Quote:
    """A quote on a freshly built snapshot, by ``router`` or by a new router if None."""
    return (router or Router()).quote(build_snapshot(markets), request)


def _timings(fn: Callable[[], object], rounds: int) -> list[int]:
    fn()
    gc.collect()
    out = []
    for _ in range(rounds):
        t = time.perf_counter_ns()
        fn()
        out.append(time.perf_counter_ns() - t)
    return out


def _pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    markets = build_markets()
    snap = build_snapshot(markets)
    router = Router()
    rows: list[tuple[str, list[int], list[int], list[int], Quote]] = []
    snapshot_cost = int(statistics.median(_timings(lambda: build_snapshot(markets), 200)))
    for name, request in REQUESTS:
        fresh_router = Router()
        warm = _timings(partial(router.quote, snap, request), args.rounds)
        fresh = _timings(
            partial(_on_new_snapshot, fresh_router, markets, request), args.rounds // 4
        )
        cold = _timings(
            partial(_on_new_snapshot, None, markets, request), max(args.rounds // 20, 20)
        )
        # the snapshot is built inside the timed call; its own cost is taken off
        fresh = [t - snapshot_cost for t in fresh]
        cold = [t - snapshot_cost for t in cold]
        rows.append((name, warm, fresh, cold, router.quote(snap, request)))
    header = (
        f"{'request':36} {'warm p50':>9} {'p99':>8} {'new-snap p50':>12} {'p99':>8} "
        f"{'uncached p50':>12} {'p99':>8} {'x warm':>7} {'paths':>5} {'vs single':>10}"
    )
    print(f"router quote time in microseconds, one core, {args.rounds} rounds warm")
    print(header)
    print("-" * len(header))
    for name, warm, fresh, cold, quote in rows:
        ratio = _pct(cold, 0.5) / _pct(warm, 0.5)
        print(
            f"{name:36} {_pct(warm, 0.5):9.0f} {_pct(warm, 0.99):8.0f} "
            f"{_pct(fresh, 0.5):12.0f} {_pct(fresh, 0.99):8.0f} "
            f"{_pct(cold, 0.5):12.0f} {_pct(cold, 0.99):8.0f} {ratio:7.1f} "
            f"{len(quote.paths):5d} {float(quote.improvement_bps):+9.2f}bp"
        )
    print()
    print("vs single: output (exact in) or output for the same input (exact out) against the")
    print("best single path, in basis points; x warm: uncached p50 / warm p50.")
    all_warm = [t for row in rows for t in row[1]]
    print(f"all requests warm: p50 {_pct(all_warm, 0.5):.0f} us, p99 {_pct(all_warm, 0.99):.0f} us")


if __name__ == "__main__":
    main()
