"""Shared helpers of the journal tests: deterministic events and polling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aggregator.journal.events import (
    BookTopEvent,
    ChainHeadEvent,
    ConnectorHealthEvent,
    Event,
    LegExecutionEvent,
    QuoteEvent,
    RouteLegEvent,
    SwapEvent,
)

T0 = 1_760_000_000_000_000_000


def make_events(count: int, *, start: int = 0) -> list[Event]:
    """``count`` events cycling through every kind, with distinct ids and timestamps."""
    out: list[Event] = []
    for i in range(start, start + count):
        ts = T0 + i * 1_000_003
        common = {"event_id": f"ev-{i:05d}", "ts_event": ts, "ts_recv": ts + 250_000 + i}
        match i % 7:
            case 0:
                out.append(
                    QuoteEvent(
                        **common,
                        quote_id=f"q{i}",
                        sell="USDC@alpha",
                        buy="WETH@beta",
                        amount_in=10**24 + i,
                        amount_out=3 * 10**20 + i,
                        legs=2,
                        route="clob:USDC@clob->WETH@clob | amm:USDC@alpha->WETH@alpha",
                        compute_ns=1_500_000 + i,
                    )
                )
            case 1:
                out.append(
                    RouteLegEvent(
                        **common,
                        quote_id=f"q{i - 1}",
                        leg=1,
                        venue="amm-alpha",
                        location="alpha",
                        amount_in=5 * 10**23,
                        amount_out=10**20,
                    )
                )
            case 2:
                out.append(
                    LegExecutionEvent.create(
                        event_id=common["event_id"],
                        ts_event=ts,
                        ts_recv=common["ts_recv"],
                        swap_id=f"s{i}",
                        venue="clob",
                        location="clob",
                        quoted_out=1_000_000 + i,
                        executed_out=999_000 + i,
                    )
                )
            case 3:
                out.append(
                    SwapEvent(
                        **common,
                        swap_id=f"s{i}",
                        state_from="destination_locked",
                        state_to="source_claiming",
                        chain="beta",
                        tx_hash=f"0x{i:064x}",
                        block=1000 + i,
                        chain_pair="alpha->beta",
                        gas_used=61_000,
                        batch_size=3,
                    )
                )
            case 4:
                out.append(
                    ChainHeadEvent.create(
                        event_id=common["event_id"],
                        chain="gamma",
                        height=i,
                        block_time=ts,
                        seen=common["ts_recv"],
                    )
                )
            case 5:
                out.append(
                    BookTopEvent(
                        **common,
                        venue="clob",
                        market="WETH-USDC",
                        bid=3000.25 + i,
                        ask=3000.75 + i,
                        bid_size=1.5,
                        ask_size=None,
                    )
                )
            case _:
                out.append(
                    ConnectorHealthEvent(
                        **common, connector="amm-beta", status="healthy", reason="", age_ms=i
                    )
                )
    return out


async def wait_until(predicate: Callable[[], bool], *, within: float = 20.0) -> None:
    """Poll until ``predicate()`` holds; fail the test after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
