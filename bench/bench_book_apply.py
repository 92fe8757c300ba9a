"""Depth-diff level updates per second: the venue connector's book against ccxt's.

Both sides consume the same synthesized stream in the venue's wire format (combined
stream frames of ``depthUpdate`` diffs over a WETHUSDC book of a few hundred levels per
side, prices walking around 3000). Two measurements:

* ``from JSON``: the raw frame text to an updated book. The connector validates the
  frame with its pydantic wire schema, parses prices and sizes exactly into integers
  and runs the synchronizer's continuity and crossed-book checks; ccxt's Binance handler
  decodes with ``json.loads`` and stores float levels in its bisect-maintained sides.
* ``apply only``: pre-parsed levels into the book (integers for the connector, floats
  for ccxt), the book structure alone.

At the end both books are compared level by level, so the race is between equal books.
ccxt is only needed here: ``pip install -e '.[bench]'``.

    .venv/bin/python bench/bench_book_apply.py [--messages 100000] [--seed 7] [--repeats 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from aggregator.models import AssetRegistry, load_assets_config
from connectors.offchain_venue.convert import MarketSpec, market_specs
from connectors.offchain_venue.schemas import CombinedDepthMessage, ExchangeInfo
from connectors.offchain_venue.sync import BookSynchronizer, Diff, SyncOutcome

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "tests" / "connectors" / "offchain_venue" / "resources"


def market_spec() -> MarketSpec:
    config = load_assets_config(ROOT / "config" / "assets.toml")
    registry = AssetRegistry(config.assets, venue_pairs=config.venue_pairs)
    info = ExchangeInfo.model_validate_json((RESOURCES / "exchange_info.json").read_text())
    specs, _ = market_specs(info, registry, "clob", symbols={"WETHUSDC"})
    return specs[0]


def synthesize(messages: int, seed: int) -> tuple[dict[str, Any], list[str]]:
    """A snapshot and ``messages`` contiguous diff frames of a random-walking book."""
    rng = random.Random(seed)
    mid = 300_000  # cents
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for k in range(1, 301):
        bids[mid - k * rng.randint(1, 3)] = rng.randint(1, 50_000)
        asks[mid + k * rng.randint(1, 3)] = rng.randint(1, 50_000)

    def text(cents: int, lots: int) -> tuple[str, str]:
        return f"{cents // 100}.{cents % 100:02d}000000", f"{Decimal(lots).scaleb(-4):.8f}"

    snapshot = {
        "lastUpdateId": 1000,
        "bids": [text(p, q) for p, q in sorted(bids.items(), reverse=True)],
        "asks": [text(p, q) for p, q in sorted(asks.items())],
    }
    frames = []
    update_id = 1000
    for n in range(messages):
        changes: dict[str, list[tuple[str, str]]] = {"b": [], "a": []}
        # Keep every bid below the mid and every ask above it: when the mid moves, the
        # levels it passes are cancelled, as a market maker requoting would.
        step = rng.choice((-2, -1, 0, 0, 1, 2))
        passed = range(mid + step, mid) if step < 0 else range(mid + 1, mid + step + 1)
        side, key = (bids, "b") if step < 0 else (asks, "a")
        for price in passed:
            if side.pop(price, None) is not None:
                changes[key].append(text(price, 0))
        mid += step
        for _ in range(rng.randint(1, 6)):
            is_bid = rng.random() < 0.5
            side, key = (bids, "b") if is_bid else (asks, "a")
            price = mid - rng.randint(1, 400) if is_bid else mid + rng.randint(1, 400)
            if price in side and rng.random() < 0.5:
                del side[price]
                changes[key].append(text(price, 0))
                continue
            side[price] = rng.randint(1, 50_000)
            changes[key].append(text(price, side[price]))
        if not changes["b"] and not changes["a"]:
            continue
        first = update_id + 1
        update_id += rng.randint(1, 4)
        data = {
            "e": "depthUpdate",
            "E": 1_718_000_000_000 + n,
            "s": "WETHUSDC",
            "U": first,
            "u": update_id,
            "b": changes["b"],
            "a": changes["a"],
        }
        frames.append(json.dumps({"stream": "wethusdc@depth@100ms", "data": data}))
    return snapshot, frames


def connector_from_json(spec: MarketSpec, snapshot: dict[str, Any], frames: list[str]) -> Any:
    sync = BookSynchronizer(spec)
    sync.on_snapshot(
        snapshot["lastUpdateId"],
        spec.levels(tuple(map(tuple, snapshot["bids"]))),
        spec.levels(tuple(map(tuple, snapshot["asks"]))),
        0,
    )
    levels, validate, on_diff = spec.levels, CombinedDepthMessage.model_validate_json, sync.on_diff
    for frame in frames:
        data = validate(frame).data
        outcome = on_diff(Diff(data.U, data.u, levels(data.b), levels(data.a), data.E, 0))
        if outcome is not SyncOutcome.APPLIED:
            raise RuntimeError(f"diff U={data.U} was {outcome.value}")
    return sync.book


def ccxt_binance() -> Any:
    """ccxt's Binance client (no network is used): its order-book handling is the baseline."""
    import ccxt.pro  # type: ignore[import-untyped]

    return ccxt.pro.binance()


def ccxt_from_json(snapshot: dict[str, Any], frames: list[str]) -> Any:
    exchange = ccxt_binance()
    book = exchange.order_book({}, None)
    book.reset(exchange.parse_order_book(snapshot, "WETH/USDC"))
    handle = exchange.handle_order_book_message
    for frame in frames:
        handle(None, json.loads(frame)["data"], book)
    return book


def connector_apply_only(spec: MarketSpec, snapshot: dict[str, Any], parsed: list[Diff]) -> Any:
    sync = BookSynchronizer(spec)
    sync.on_snapshot(
        snapshot["lastUpdateId"],
        spec.levels(tuple(map(tuple, snapshot["bids"]))),
        spec.levels(tuple(map(tuple, snapshot["asks"]))),
        0,
    )
    apply = sync.book.apply
    for diff in parsed:
        apply(diff.bids, diff.asks, diff.last, 0, 0)
    return sync.book


def ccxt_apply_only(snapshot: dict[str, Any], parsed: list[tuple[list[Any], list[Any]]]) -> Any:
    exchange = ccxt_binance()
    book = exchange.order_book({}, None)
    book.reset(exchange.parse_order_book(snapshot, "WETH/USDC"))
    bids, asks = book["bids"], book["asks"]
    for bid_levels, ask_levels in parsed:
        for price, size in ask_levels:
            asks.store(price, size)
        for price, size in bid_levels:
            bids.store(price, size)
    return book


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def same_books(spec: MarketSpec, ours: Any, theirs: Any) -> bool:
    unit = Decimal(10) ** -spec.base_decimals
    for side, reference in ((ours.bids, theirs["bids"]), (ours.asks, theirs["asks"])):
        mine = [(spec.price(p), Decimal(q) * unit) for p, q in side.top(len(side))]
        other = [(Decimal(str(p)).quantize(Decimal("0.01")), Decimal(str(q))) for p, q in reference]
        if len(mine) != len(other):
            return False
        for (p1, q1), (p2, q2) in zip(mine, other, strict=True):
            if p1 != p2 or abs(q1 - q2) > Decimal("1e-9"):
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if importlib.util.find_spec("ccxt") is None:
        raise SystemExit("ccxt is not installed: pip install -e '.[bench]'")

    spec = market_spec()
    snapshot, frames = synthesize(args.messages, args.seed)
    decoded = [json.loads(f)["data"] for f in frames]
    updates = sum(len(d["b"]) + len(d["a"]) for d in decoded)
    ints = [
        Diff(d["U"], d["u"], spec.levels(tuple(d["b"])), spec.levels(tuple(d["a"])), 0, 0)
        for d in decoded
    ]
    floats = [
        ([[float(p), float(q)] for p, q in d["b"]], [[float(p), float(q)] for p, q in d["a"]])
        for d in decoded
    ]
    runs = [
        ("from JSON", "connector", lambda: connector_from_json(spec, snapshot, frames)),
        ("from JSON", "ccxt", lambda: ccxt_from_json(snapshot, frames)),
        ("apply only", "connector", lambda: connector_apply_only(spec, snapshot, ints)),
        ("apply only", "ccxt", lambda: ccxt_apply_only(snapshot, floats)),
    ]
    # Interleaved repeats, best of each: a busy machine slows both sides alike.
    results: dict[tuple[str, str], tuple[float, Any]] = {}
    for _ in range(args.repeats):
        for scenario, name, fn in runs:
            seconds, book = timed(fn)
            best = results.get((scenario, name))
            if best is None or seconds < best[0]:
                results[(scenario, name)] = (seconds, book)
    sizes = [
        len(results[("apply only", "connector")][1].bids),
        len(results[("apply only", "connector")][1].asks),
    ]
    print(f"{len(frames)} diffs, {updates} level updates, seed {args.seed}, best of {args.repeats}")
    print(f"final book: {sizes[0]} bid and {sizes[1]} ask levels")
    print()
    print(f"{'scenario':<12} {'implementation':<16} {'seconds':>9} {'levels/s':>12} {'vs ccxt':>8}")
    for scenario in ("from JSON", "apply only"):
        base = results[(scenario, "ccxt")][0]
        for name in ("connector", "ccxt"):
            seconds, _ = results[(scenario, name)]
            print(
                f"{scenario:<12} {name:<16} {seconds:>9.3f} {updates / seconds:>12,.0f} "
                f"{base / seconds:>7.2f}x"
            )
        ours, theirs = results[(scenario, "connector")][1], results[(scenario, "ccxt")][1]
        if not same_books(spec, ours, theirs):
            raise SystemExit(f"{scenario}: the two books differ at the end of the stream")
    print()
    print("books equal at the end of the stream: yes")


if __name__ == "__main__":
    main()
