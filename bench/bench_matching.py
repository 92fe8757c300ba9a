"""Orders per second of the exchange's matching engine against a naive book.

One seeded random stream per scenario, from 20 accounts: 55% LIMIT GTC, 10% LIMIT IOC,
10% MARKET (by quantity), 25% cancels of an earlier order (which may be gone already),
sizes of 4-60 lots, prices around a mid that walks. ``tight`` keeps prices within 25
ticks of the mid (a book of tens of levels, like the devnet's); ``deep`` spreads them over
4000 ticks (thousands of resting orders on hundreds of levels).

Baseline, measured in the same run on the same stream: a naive price-time book inside
this file, each side one Python list kept sorted by price then arrival, with linear-scan
insertion, matching from the head with ``list.pop(0)`` and cancels by linear search. It
keeps no balances; the engine also reserves, settles and emits events for every order.
Before the table is printed, both must have produced the same trades (maker order, price
and quantity, in order).

    .venv/bin/python bench/bench_matching.py [--orders 50000] [--seed 7] [--repeats 3]

The baseline is quadratic in the book size: the deep scenario at 100000 orders takes
it over a minute per repeat.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import random
import time
from collections.abc import Callable
from pathlib import Path

from aggregator.exchange.config import load_venue_config
from aggregator.exchange.engine import MatchingEngine
from aggregator.exchange.errors import CancelRejectedError
from aggregator.exchange.orders import (
    OrderRequest,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from aggregator.exchange.units import SymbolSpec

ROOT = Path(__file__).resolve().parents[1]
SYMBOL = "WETHUSDC"
ACCOUNTS = [f"acct{i}" for i in range(20)]

# One stream entry: (kind, order id, is_buy, price ticks, quantity units, account);
# kind 0 = limit GTC, 1 = limit IOC, 2 = market, 3 = cancel (order id = the target).
Op = tuple[int, int, bool, int, int, str]
Trade = tuple[int, int, int]


def market() -> SymbolSpec:
    config = load_venue_config(ROOT / "config" / "venue.toml", environ={})
    spec = next(s for s in config.specs() if s.symbol == SYMBOL)
    return dataclasses.replace(spec, min_notional_units=0)


def stream(n: int, seed: int, spread: int, lot: int) -> list[Op]:
    rng = random.Random(seed)
    mid = 300_000
    ops: list[Op] = []
    next_id = 1
    for _ in range(n):
        mid += rng.choice((-1, 0, 0, 1))
        account = rng.choice(ACCOUNTS)
        r = rng.random()
        if r < 0.25 and next_id > 1:
            ops.append((3, rng.randrange(max(1, next_id - 2000), next_id), False, 0, 0, account))
            continue
        kind = 0 if r < 0.80 else 1 if r < 0.90 else 2
        is_buy = rng.random() < 0.5
        offset = rng.randint(-spread // 5, spread)
        price = mid - offset if is_buy else mid + offset
        ops.append((kind, next_id, is_buy, price, rng.randint(4, 60) * lot, account))
        next_id += 1
    return ops


# -- the engine ------------------------------------------------------------------------


def run_engine(spec: SymbolSpec, ops: list[Op]) -> tuple[float, list[Trade], int]:
    engine = MatchingEngine([spec], history_per_account=1_000_000)
    rich = {spec.base: 10**40, spec.quote: 10**40}
    for name in ACCOUNTS:
        engine.open_account(name, rich)
    none = SelfTradePrevention.NONE
    engine.subscribe(lambda events: None)  # as the server's stream hub with no clients
    prepared: list[tuple[OrderRequest | None, str, int]] = []
    for kind, oid, is_buy, price, qty, account in ops:
        side = Side.BUY if is_buy else Side.SELL
        if kind == 3:
            prepared.append((None, account, oid))
        elif kind == 2:
            req = OrderRequest(account, SYMBOL, side, OrderType.MARKET, qty, stp=none)
            prepared.append((req, account, oid))
        else:
            tif = TimeInForce.IOC if kind == 1 else TimeInForce.GTC
            req = OrderRequest(account, SYMBOL, side, OrderType.LIMIT, qty, price, tif, stp=none)
            prepared.append((req, account, oid))
    trades: list[Trade] = []
    owner = {oid: account for kind, oid, _, _, _, account in ops if kind != 3}
    place, cancel = engine.place, engine.cancel
    start = time.perf_counter()
    for ts, (request, _, oid) in enumerate(prepared):
        if request is None:
            try:
                cancel(owner[oid], SYMBOL, ts, order_id=oid)
            except CancelRejectedError:
                pass
        else:
            for f in place(request, ts).fills:
                trades.append((f.maker_order_id, f.price, f.qty))
    elapsed = time.perf_counter() - start
    book = engine.book(SYMBOL)
    return (
        elapsed,
        trades,
        sum(len(level) for level in book.bids.levels.values())
        + sum(len(level) for level in book.asks.levels.values()),
    )


# -- the naive baseline ---------------------------------------------------------------


class NaiveBook:
    """Each side a list of [price, order id, remaining], best first, oldest first."""

    def __init__(self) -> None:
        self.bids: list[list[int]] = []
        self.asks: list[list[int]] = []
        self.side_of: dict[int, bool] = {}

    def submit(
        self, oid: int, is_buy: bool, price: int | None, qty: int, rest: bool
    ) -> list[Trade]:
        opp = self.asks if is_buy else self.bids
        trades: list[Trade] = []
        while qty and opp:
            best = opp[0]
            if price is not None and (best[0] > price if is_buy else best[0] < price):
                break
            q = min(qty, best[2])
            trades.append((best[1], best[0], q))
            qty -= q
            best[2] -= q
            if best[2] == 0:
                opp.pop(0)
        if qty and rest and price is not None:
            side = self.bids if is_buy else self.asks
            i = 0
            if is_buy:
                while i < len(side) and side[i][0] >= price:
                    i += 1
            else:
                while i < len(side) and side[i][0] <= price:
                    i += 1
            side.insert(i, [price, oid, qty])
            self.side_of[oid] = is_buy
        return trades

    def cancel(self, oid: int) -> bool:
        is_buy = self.side_of.pop(oid, None)
        if is_buy is None:
            return False
        side = self.bids if is_buy else self.asks
        for i, entry in enumerate(side):
            if entry[1] == oid:
                del side[i]
                return True
        return False


def run_naive(ops: list[Op]) -> tuple[float, list[Trade], int]:
    book = NaiveBook()
    trades: list[Trade] = []
    start = time.perf_counter()
    for kind, oid, is_buy, price, qty, _ in ops:
        if kind == 3:
            book.cancel(oid)
        else:
            trades.extend(book.submit(oid, is_buy, None if kind == 2 else price, qty, kind == 0))
    elapsed = time.perf_counter() - start
    return elapsed, trades, len(book.bids) + len(book.asks)


def best_of(
    repeats: int, run: Callable[[], tuple[float, list[Trade], int]]
) -> tuple[float, list[Trade], int]:
    results = [run() for _ in range(repeats)]
    return min(results, key=lambda r: r[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    spec = market()
    print(f"{args.orders} operations per run, best of {args.repeats}, seed {args.seed}\n")
    header = (
        f"{'scenario':<8} {'book':<34} {'seconds':>8} {'ops/s':>10} {'trades':>8} "
        f"{'resting':>8} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, spread in (("tight", 25), ("deep", 4000)):
        ops = stream(args.orders, args.seed, spread, spec.lot_units)
        naive = best_of(args.repeats, functools.partial(run_naive, ops))
        fast = best_of(args.repeats, functools.partial(run_engine, spec, ops))
        if naive[1] != fast[1] or naive[2] != fast[2]:
            raise SystemExit(f"{name}: the engine and the baseline disagree on the trades")
        for label, (seconds, trades, resting) in (
            ("naive sorted lists (baseline)", naive),
            ("MatchingEngine (with accounting)", fast),
        ):
            print(
                f"{name:<8} {label:<34} {seconds:>8.3f} {len(ops) / seconds:>10,.0f} "
                f"{len(trades):>8} {resting:>8} {naive[0] / seconds:>5.2f}x"
            )


if __name__ == "__main__":
    main()
