"""The market sampler journals chain heads once per height, book tops when they move
(at most once per interval) and connector health on change, into the real outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from aggregator.journal.config import JournalConfig
from aggregator.journal.events import BookTopEvent, ChainHeadEvent, ConnectorHealthEvent
from aggregator.journal.outbox import Outbox, decode_entry
from aggregator.journal.sampler import MarketSampler
from aggregator.market.snapshot import ChainState
from aggregator.models import (
    AssetAt,
    BookLevel,
    Liquidity,
    Location,
    Market,
    MarketKind,
    OrderBook,
)
from aggregator.plugins.protocol import (
    Capabilities,
    ExecutionRequest,
    ExecutionResult,
    Health,
    HealthStatus,
    LiquidityUpdate,
)

S = 1_000_000_000
VENUE = Location.venue("clob")
MARKET = Market(
    id="clob:WETHUSDC",
    venue="clob",
    kind=MarketKind.BOOK,
    location=VENUE,
    base=AssetAt(asset="WETH", location=VENUE),
    quote=AssetAt(asset="USDC", location=VENUE),
    symbol="WETHUSDC",
    tick_size=Decimal("0.01"),
    lot_size=10**14,
    min_size=10**14,
    fee_bps=0,
)


class Source:
    """A connector whose state the test sets (book venue and chain at once)."""

    name = "clob"

    def __init__(self) -> None:
        self.sequence = 1
        self.head = 100
        self.status = HealthStatus.HEALTHY

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def markets(self) -> Sequence[Market]:
        return [MARKET]

    def liquidity(self, market_id: str) -> Liquidity | None:
        return OrderBook(
            market_id=MARKET.id,
            bids=(BookLevel(Decimal("2999.5"), 2 * 10**18),),
            asks=(BookLevel(Decimal("3000.5"), 10**18),),
            base_decimals=18,
            quote_decimals=6,
            sequence=self.sequence,
            ts_event=10 * S + self.sequence,
            ts_recv=10 * S + self.sequence + 7_000,
        )

    def updates(self) -> AsyncIterator[LiquidityUpdate]:
        raise NotImplementedError

    async def fetch_liquidity(self, market_id: str) -> Liquidity:
        raise NotImplementedError

    def health(self) -> Health:
        return Health(connector=self.name, status=self.status, age_ns=5_000_000)

    def capabilities(self) -> Capabilities:
        return Capabilities(supported=frozenset())

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        raise NotImplementedError

    def chain_state(self) -> ChainState:
        return ChainState(
            key="alpha",
            chain_id=31001,
            head=self.head,
            head_time=1_700_000_000 + self.head,
            block_time_s=1.0,
            confirmations=1,
            base_fee_wei=1,
            priority_fee_wei=1,
            native_asset="WETH",
            ts_recv=(1_700_000_000 + self.head) * S + 3_000_000,
        )


def test_events_are_due_on_change_and_interval() -> None:
    now = [100 * S]
    source = Source()
    sampler = MarketSampler(
        [source], Outbox(JournalConfig()), book_interval_s=1.0, clock=lambda: now[0]
    )
    first = sampler.sample()
    kinds = sorted(type(e).__name__ for e in first)
    assert kinds == ["BookTopEvent", "ChainHeadEvent", "ConnectorHealthEvent"]
    head = next(e for e in first if isinstance(e, ChainHeadEvent))
    assert (head.chain, head.height, head.event_id) == ("alpha", 100, "head:alpha:100")
    assert head.ts_recv - head.ts_event == 3_000_000
    top = next(e for e in first if isinstance(e, BookTopEvent))
    assert (top.bid, top.ask, top.bid_size) == (2999.5, 3000.5, 2.0)
    assert top.ts_recv - top.ts_event == 7_000

    # nothing moved: nothing due
    assert sampler.sample() == []
    # the book moved, but within the interval; the head moved
    source.sequence, source.head = 2, 101
    assert [type(e).__name__ for e in sampler.sample()] == ["ChainHeadEvent"]
    # after the interval the moved book is journaled once
    now[0] += S
    assert [type(e).__name__ for e in sampler.sample()] == ["BookTopEvent"]
    # health is journaled when it changes
    source.status = HealthStatus.STALE
    (health,) = sampler.sample()
    assert isinstance(health, ConnectorHealthEvent) and health.status == "stale"


async def wait_for_length(client: aioredis.Redis, outbox: Outbox, n: int) -> None:
    while await outbox.length(client) < n:  # noqa: ASYNC110 - polling another process
        await asyncio.sleep(0.01)


async def test_run_writes_the_events_to_the_outbox_stream(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    outbox = Outbox(JournalConfig())
    source = Source()
    stop = asyncio.Event()
    task = asyncio.create_task(MarketSampler([source], outbox, tick_s=0.01).run(client, stop))
    try:
        async with asyncio.timeout(5):
            await wait_for_length(client, outbox, 3)
            source.head = 101
            await wait_for_length(client, outbox, 4)
    finally:
        stop.set()
        await task
    entries: Any = await client.xrange(outbox.key)
    events = [decode_entry(fields) for _id, fields in entries]
    heads = [e.height for e in events if isinstance(e, ChainHeadEvent)]
    assert heads == [100, 101]
    assert sum(isinstance(e, BookTopEvent) for e in events) == 1
    await client.aclose()
