"""Snapshot assembly and depth-ladder derivation, against baselines measured in the same run.

    .venv/bin/python bench/bench_snapshot.py [--rounds N]

Cases
  snapshot      SnapshotBuilder.build() over in-memory connectors (one book venue with
                30 markets of 500 levels a side, three chains with 20 pools each),
                against a naive build that validates every model it assembles
                (liquidity re-validated from its fields, then MarketSnapshot(...)).
  book ladder   OrderBook.depth_ladder (exact Decimal bounds) on a 500-level book,
                against the same bucketing in floats.
  amm ladder    AmmCurve.depth_ladder (exact integer square roots) against floats.

The ratio is baseline time / our time: above 1 we are faster; below 1 is the
price of exactness (Decimal and integer arithmetic instead of floats).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal

from aggregator.market import ChainState, MarketSnapshot, SnapshotBuilder
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
from aggregator.plugins import (
    Capabilities,
    ExecutionRequest,
    ExecutionResult,
    Health,
    HealthStatus,
    LiquidityUpdate,
)

LEVELS = 500
STEP_BPS = 10
LADDER_LEVELS = 20


class _Venue:
    def __init__(self, name: str, markets: list[Market], data: dict[str, Liquidity]) -> None:
        self.name = name
        self._markets = markets
        self._data = data
        self.state: ChainState | None = None

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def markets(self) -> Sequence[Market]:
        return self._markets

    def liquidity(self, market_id: str) -> Liquidity | None:
        return self._data.get(market_id)

    async def updates(self) -> AsyncIterator[LiquidityUpdate]:
        return
        yield

    async def fetch_liquidity(self, market_id: str) -> Liquidity:
        return self._data[market_id]

    def health(self) -> Health:
        return Health(connector=self.name, status=HealthStatus.HEALTHY)

    def capabilities(self) -> Capabilities:
        return Capabilities(supported=frozenset())

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        raise NotImplementedError


class _Chain(_Venue):
    def chain_state(self) -> ChainState:
        assert self.state is not None
        return self.state


def _market(venue: str, n: int, location: Location) -> Market:
    kind = MarketKind.AMM if location.is_chain else MarketKind.BOOK
    return Market(
        id=f"{venue}:M{n}",
        venue=venue,
        kind=kind,
        location=location,
        base=AssetAt(asset=f"T{n}", location=location),
        quote=AssetAt(asset="USDC", location=location),
        symbol=f"T{n}USDC",
        tick_size=Decimal("0.01"),
        lot_size=1,
        min_size=1,
        fee_bps=30,
        address=f"0x{n:040x}" if location.is_chain else None,
    )


def make_book(market_id: str, mid: int = 3000, levels: int = LEVELS) -> OrderBook:
    tick = Decimal("0.01")
    bids = tuple(
        BookLevel(Decimal(mid) - tick * (k + 1), 10**17 * (1 + k % 7)) for k in range(levels)
    )
    asks = tuple(
        BookLevel(Decimal(mid) + tick * (k + 1), 10**17 * (1 + k % 5)) for k in range(levels)
    )
    return OrderBook(
        market_id=market_id,
        bids=bids,
        asks=asks,
        base_decimals=18,
        quote_decimals=6,
        fee_bps=10,
        sequence=1,
        ts_event=1,
        ts_recv=1,
    )


def make_curve(market_id: str, n: int = 1) -> AmmCurve:
    return AmmCurve(
        market_id=market_id,
        pool=f"0x{n:040x}",
        reserve_base=1_666 * 10**18 + n,
        reserve_quote=5_000_000 * 10**6,
        fee_bps=30,
        base_decimals=18,
        quote_decimals=6,
        sequence=1,
        ts_event=1,
        ts_recv=1,
    )


def make_venues() -> list[_Venue]:
    clob = Location.venue("clob")
    markets = [_market("clob", n, clob) for n in range(30)]
    venues: list[_Venue] = [
        _Venue("clob", markets, {m.id: make_book(m.id, 3000 + n) for n, m in enumerate(markets)})
    ]
    for c, key in enumerate(("alpha", "beta", "gamma")):
        loc = Location.chain(key, 31001 + c)
        pools = [_market(key, n, loc) for n in range(20)]
        chain = _Chain(key, pools, {m.id: make_curve(m.id, n) for n, m in enumerate(pools)})
        chain.state = ChainState(
            key=key,
            chain_id=31001 + c,
            head=100,
            head_time=1,
            block_time_s=1.0,
            confirmations=1,
            base_fee_wei=1,
            priority_fee_wei=1,
            native_asset="WETH",
            ts_recv=1,
        )
        venues.append(chain)
    return venues


def naive_snapshot(venues: Sequence[_Venue]) -> MarketSnapshot:
    """Validate everything: each liquidity rebuilt through its validator, then the snapshot."""
    markets: dict[str, Market] = {}
    liquidity: dict[str, Liquidity] = {}
    chains: dict[str, ChainState] = {}
    for venue in venues:
        if isinstance(venue, _Chain):
            chains[venue.chain_state().key] = ChainState.model_validate(
                venue.chain_state().model_dump()
            )
        for m in venue.markets():
            liq = venue.liquidity(m.id)
            assert liq is not None
            markets[m.id] = Market.model_validate(m.model_dump())
            liquidity[m.id] = type(liq).model_validate(dict(liq))
    return MarketSnapshot(
        ts_recv=time.time_ns(),
        markets=markets,
        liquidity=liquidity,
        chains=chains,
        venues=tuple(v.name for v in venues),
        excluded=tuple(Exclusion.model_validate(e) for e in ()),
    )


def float_book_ladder(book: OrderBook, step_bps: int, count: int) -> list[list[tuple[float, int]]]:
    bids = [(float(p), s) for p, s in book.bids]
    asks = [(float(p), s) for p, s in book.asks]
    mid = (bids[0][0] + asks[0][0]) / 2
    out = []
    for sign, levels in ((-1, bids), (1, asks)):
        bounds = [mid * (1 + sign * step_bps * (k + 1) / 10_000) for k in range(count)]
        sizes = [0] * count
        k = 0
        for price, size in levels:
            while k < count and (price < bounds[k] if sign < 0 else price > bounds[k]):
                k += 1
            if k == count:
                break
            sizes[k] += size
        out.append(list(zip(bounds, sizes, strict=True)))
    return out


def float_curve_ladder(curve: AmmCurve, step_bps: int, count: int) -> list[list[tuple[float, int]]]:
    rb, rq = float(curve.reserve_base), float(curve.reserve_quote)
    k, mid = rb * rq, rq / rb
    bids, asks = [], []
    prev_b = prev_a = rb
    for step in range(1, count + 1):
        down, up = 1 - step_bps * step / 10_000, 1 + step_bps * step / 10_000
        nb = math.sqrt(k / (mid * down))
        na = math.sqrt(k / (mid * up))
        bids.append((mid * down, int(max(nb - prev_b, 0))))
        asks.append((mid * up, int(max(prev_a - na, 0))))
        prev_b, prev_a = nb, na
    return [bids, asks]


def timed(fn: Callable[[], object], rounds: int) -> float:
    """Median microseconds per call over ``rounds`` rounds of a calibrated loop."""
    fn()
    loops, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed > 0.05:
            break
        loops *= 2
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - start) / loops * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    venues = make_venues()
    builder = SnapshotBuilder(venues)
    ours, naive = builder.build(), naive_snapshot(venues)
    assert set(ours.markets) == set(naive.markets) and len(ours.markets) == 90

    book = make_book("clob:BOOK")
    curve = make_curve("alpha:POOL")
    exact_book = book.depth_ladder(STEP_BPS, LADDER_LEVELS)
    floats_book = float_book_ladder(book, STEP_BPS, LADDER_LEVELS)
    assert [s for _, s in exact_book.bids] == [s for _, s in floats_book[0]]

    rows = [
        (
            "snapshot (90 markets)",
            timed(builder.build, args.rounds),
            timed(lambda: naive_snapshot(venues), args.rounds),
            "validated build",
        ),
        (
            f"book ladder ({LEVELS} levels)",
            timed(lambda: book.depth_ladder(STEP_BPS, LADDER_LEVELS), args.rounds),
            timed(lambda: float_book_ladder(book, STEP_BPS, LADDER_LEVELS), args.rounds),
            "float ladder",
        ),
        (
            f"amm ladder ({LADDER_LEVELS} steps)",
            timed(lambda: curve.depth_ladder(STEP_BPS, LADDER_LEVELS), args.rounds),
            timed(lambda: float_curve_ladder(curve, STEP_BPS, LADDER_LEVELS), args.rounds),
            "float ladder",
        ),
    ]
    header = f"{'case':<28}{'ours µs':>12}{'baseline µs':>14}  {'baseline':<18}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for name, ours_us, base_us, base_name in rows:
        print(
            f"{name:<28}{ours_us:>12.1f}{base_us:>14.1f}  {base_name:<18}{base_us / ours_us:>7.2f}x"
        )


if __name__ == "__main__":
    main()
