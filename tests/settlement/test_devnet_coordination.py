"""Batching, several coordinators sharing swaps, the service's refusals, trade legs."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aggregator.client.trader import TraderOutcome
from aggregator.devnet.manifest import DevnetManifest
from aggregator.errors import (
    InvalidAddressError,
    QuoteAlreadyUsedError,
    QuoteExpiredError,
    QuoteNotFoundError,
    SwapNotFoundError,
    TermsMismatchError,
    ValidationError,
)
from aggregator.journal.config import JournalConfig
from aggregator.journal.events import LegExecutionEvent
from aggregator.journal.outbox import decode_entry
from aggregator.models import AssetAt, Location, Quote, QuoteRequest
from aggregator.settlement.coordinator import Coordinator
from aggregator.settlement.keys import Keys
from aggregator.settlement.legs import LegExecutor
from aggregator.settlement.nonces import NonceManager
from aggregator.settlement.service import SwapTicket
from aggregator.settlement.swap import SwapPhase, TxKind
from tests.settlement.harness import Stack, settlement_stack
from tests.settlement.quotes import fixed_rate_quote
from tests.settlement.routing import amm_connectors, asset_registry, router, snapshot

pytestmark = [pytest.mark.devnet]


def _quote(stack: Stack, i: int, src: str = "alpha", dst: str = "beta") -> Quote:
    return fixed_rate_quote(
        amount_in=1_000_000_000 + i,
        rate=Decimal("0.0003"),
        sell=("USDC", src),
        buy=("WETH", dst),
        timelocks=stack.plan(src, dst),
    )


async def test_destination_locks_due_together_go_out_in_one_lock_batch(
    devnet: DevnetManifest, redis_url: str, tmp_path: Path
) -> None:
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        opened: list[tuple[str, SwapTicket]] = []
        for i in range(5):
            quote = await stack.put(_quote(stack, i))
            entry, ticket = await stack.trader.open(quote, stack.service)
            await stack.trader.lock(ticket)
            opened.append((entry.preimage, ticket))
        await stack.start_coordinator()  # every lock is already final: all due at once
        for preimage, ticket in opened:
            await stack.wait_phase(ticket.swap.id, [SwapPhase.DESTINATION_LOCKED])
            assert (await stack.trader.claim(ticket, preimage)).status == 1
        swaps = await stack.wait_terminal([t.swap.id for _, t in opened])
    locks = [s.txs[0] for s in swaps]
    assert {t.kind for t in locks} == {TxKind.DESTINATION_LOCK}
    assert len({t.hash for t in locks}) == 1 and {t.batch_size for t in locks} == {5}
    assert {s.phase for s in swaps} == {SwapPhase.COMPLETED}


async def test_two_coordinators_share_the_swaps_and_never_drive_one_twice(
    devnet: DevnetManifest, redis_url: str, tmp_path: Path
) -> None:
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        await stack.start_coordinator()
        other = Coordinator(stack.config, stack.redis, devnet.accounts.resolver.local_account())
        await other.start()
        stop = asyncio.Event()
        task = asyncio.create_task(other.run(stop))
        try:
            quotes = [await stack.put(_quote(stack, i, "gamma", "alpha")) for i in range(8)]
            results = await asyncio.gather(*(stack.trader.swap(q, stack.service) for q in quotes))
            swaps = await stack.wait_terminal([r.ticket.swap.id for r in results])
        finally:
            stop.set()
            await task
            await other.close()
    assert [r.outcome for r in results] == [TraderOutcome.CLAIMED] * 8
    for swap in swaps:
        assert [(t.kind, t.status) for t in swap.txs] == [
            (TxKind.DESTINATION_LOCK, 1),
            (TxKind.SOURCE_CLAIM, 1),
        ]


async def test_the_service_refuses_bad_requests_with_typed_errors(
    devnet: DevnetManifest, redis_url: str, tmp_path: Path
) -> None:
    trader = devnet.accounts.trader.address
    hashlock = "0x" + "11" * 32
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        service = stack.service
        quote = await stack.put(_quote(stack, 0))
        with pytest.raises(InvalidAddressError):
            await service.create_swap(quote.id, "0x1234", trader, hashlock)
        with pytest.raises(InvalidAddressError):
            await service.create_swap(quote.id, trader, devnet.accounts.resolver.address, hashlock)
        with pytest.raises(ValidationError):
            await service.create_swap(quote.id, trader, trader, "0xabcd")
        with pytest.raises(QuoteNotFoundError):
            await service.create_swap("unknown", trader, trader, hashlock)
        ticket = await service.create_swap(quote.id, trader, trader, hashlock)
        assert ticket.swap.phase is SwapPhase.AWAITING_SOURCE_LOCK
        assert ticket.lock.terms.id == ticket.swap.id
        assert ticket.destination.amount == quote.amount_out
        with pytest.raises(QuoteAlreadyUsedError):
            await service.create_swap(quote.id, trader, trader, "0x" + "22" * 32)
        stale = await stack.put(fixed_rate_quote(amount_in=10**6, rate=Decimal("0.0003"), ttl_s=-1))
        with pytest.raises(QuoteExpiredError):
            await service.create_swap(stale.id, trader, trader, "0x" + "33" * 32)
        with pytest.raises(SwapNotFoundError):
            await service.get_swap("0x" + "00" * 32)
        assert [s.id for s in await service.list_swaps(SwapPhase.AWAITING_SOURCE_LOCK)] == [
            ticket.swap.id
        ]


async def test_the_trader_refuses_terms_that_differ_from_its_quote(
    devnet: DevnetManifest, redis_url: str, tmp_path: Path
) -> None:
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        quote = await stack.put(_quote(stack, 0))

        class ShortChanging:
            async def create_swap(self, *args: str) -> SwapTicket:
                ticket = await stack.service.create_swap(*args)
                less = ticket.destination.model_copy(
                    update={"amount": ticket.destination.amount - 1}
                )
                return ticket.model_copy(update={"destination": less})

        with pytest.raises(TermsMismatchError) as caught:
            await stack.trader.open(quote, ShortChanging())
        assert caught.value.details["terms"] == ["destination amount"]


async def test_trade_legs_run_on_their_venues_and_are_recorded_beside_the_settlement(
    devnet: DevnetManifest, redis_url: str, tmp_path: Path
) -> None:
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        # one nonce authority for the resolver, as in the service: no collision to recover from
        nonces = NonceManager(stack.redis, Keys(stack.config.key_prefix))
        async with amm_connectors(devnet, executor=True, nonces=nonces) as connectors:
            snap = await snapshot(stack, connectors)
            quoter = router(stack.config.timelocks, asset_registry(devnet))
            request = QuoteRequest(
                sell=AssetAt(asset="USDC", location=Location.chain("alpha", 31001)),
                buy=AssetAt(asset="WETH", location=Location.chain("beta", 31002)),
                amount=20_000 * 10**6,
                firm=True,
            )
            quote = await stack.put(quoter.quote(snap, request))
            trades = [leg for leg in quote.legs if leg.kind == "trade"]
            assert trades, "the route trades on a pool"
            legs = LegExecutor({c.name: c for c in connectors})
            await stack.start_coordinator(legs=legs, nonces=nonces)
            result = await stack.trader.swap(quote, stack.service)
            assert result.outcome is TraderOutcome.CLAIMED
            [swap] = await stack.wait_terminal([result.ticket.swap.id])
            assert swap.phase is SwapPhase.COMPLETED
            for _ in range(200):
                records = await stack.coordinator.store.legs(swap.id)  # type: ignore[union-attr]
                if len(records) == len(trades):
                    break
                await asyncio.sleep(0.05)
        entries: Any = await stack.redis.xrange(JournalConfig().outbox_key)
        events = [decode_entry(f) for _, f in entries]
    assert len(records) == len(trades)
    for record, leg in zip(records, trades, strict=True):
        assert record.error_code is None, record
        assert record.quoted_in == leg.amount_in and record.executed_in == leg.amount_in
        assert record.executed_out > 0 and record.tx_hash is not None
    executions = [e for e in events if isinstance(e, LegExecutionEvent)]
    assert [(e.quoted_out, e.executed_out) for e in executions] == [
        (r.quoted_out, r.executed_out) for r in records
    ]
