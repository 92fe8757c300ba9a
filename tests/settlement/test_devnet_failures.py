"""Acceptance: the failure paths keep the promise (output delivered or input returned).

Each test runs on a snapshot of the devnet that is reverted afterwards, since
they move chain clocks and reorganize blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from aggregator.devnet.control import increase_time, mine, revert, snapshot
from aggregator.devnet.manifest import DevnetManifest
from aggregator.settlement.service import SwapTicket
from aggregator.settlement.swap import Reason, SwapPhase, TxKind
from aggregator.settlement.terms import HtlcState, HtlcTerms, lock_calldata
from tests.settlement.harness import Stack, settlement_stack
from tests.settlement.quotes import fixed_rate_quote

pytestmark = [pytest.mark.devnet, pytest.mark.slow]


async def _open(
    stack: Stack, amount_in: int = 2_000_000_000, src: str = "alpha", dst: str = "beta"
) -> tuple[str, SwapTicket]:
    quote = fixed_rate_quote(
        amount_in=amount_in,
        rate=Decimal("0.0003"),
        sell=("USDC", src),
        buy=("WETH", dst),
        timelocks=stack.plan(src, dst),
    )
    await stack.put(quote)
    entry, ticket = await stack.trader.open(quote, stack.service)
    return entry.preimage, ticket


async def test_a_trader_who_never_claims_gets_the_input_back_and_the_resolver_its_output(
    devnet_snapshot: DevnetManifest, redis_url: str, tmp_path: Path
) -> None:
    devnet = devnet_snapshot
    trader, resolver = devnet.accounts.trader.address, devnet.accounts.resolver.address
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        coordinator = await stack.start_coordinator()
        holders = [trader, resolver, devnet.chain("alpha").htlc, devnet.chain("beta").htlc]
        tokens_before = await stack.balances(holders)
        native_before = {
            (c, who): await stack.clients[c].balance(who)
            for c in ("alpha", "beta")
            for who in (trader, resolver)
        }
        _, ticket = await _open(stack)
        await stack.trader.lock(ticket)
        await stack.wait_phase(ticket.swap.id, [SwapPhase.DESTINATION_LOCKED])
        # the trader never claims: T_B passes on beta, then T_A on alpha
        left_b = ticket.destination.timelock - await stack.chain_time("beta")
        await increase_time(devnet.chain("beta").rpc_url, left_b + 1)
        await stack.wait_phase(ticket.swap.id, [SwapPhase.AWAITING_SOURCE_REFUND])
        left_a = ticket.lock.terms.timelock - await stack.chain_time("alpha")
        await increase_time(devnet.chain("alpha").rpc_url, left_a + 1)
        swap = await stack.wait_phase(ticket.swap.id, [SwapPhase.REFUNDED])
        await stack.stop_coordinator()
        assert [(t.kind, t.status) for t in swap.txs] == [
            (TxKind.DESTINATION_LOCK, 1),
            (TxKind.DESTINATION_REFUND, 1),
            (TxKind.SOURCE_REFUND, 1),
        ]
        assert swap.notes[-1].reason is Reason.NOT_CLAIMED_IN_TIME
        tokens_after = await stack.balances(holders)
        assert tokens_after == tokens_before
        # native coin: exactly the gas each side paid, from the receipts
        paid = {("alpha", trader): 0, ("beta", trader): 0, ("alpha", resolver): 0}
        paid[("beta", resolver)] = 0
        for chain, sender in stack.trader.senders.items():
            for tx in sender.sent:
                paid[(chain, trader)] += await stack.clients[chain].fee_paid(tx.hash)
        for ref in swap.txs:
            paid[(ref.chain, resolver)] += await stack.clients[ref.chain].fee_paid(ref.hash)
        for key, before in native_before.items():
            assert await stack.clients[key[0]].balance(key[1]) == before - paid[key], key
        assert coordinator is not None


async def test_a_lock_with_any_wrong_term_gets_no_destination_lock_and_is_refunded(
    devnet_snapshot: DevnetManifest, redis_url: str, tmp_path: Path
) -> None:
    devnet = devnet_snapshot
    alpha = devnet.chain("alpha")
    trader = devnet.accounts.trader.address
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        await stack.start_coordinator()
        before = await stack.token_balance("alpha", "USDC", trader)
        wrong: dict[str, Callable[[HtlcTerms], dict[str, object]]] = {
            "amount": lambda t: {"amount": t.amount - 1},
            "token": lambda t: {"token": alpha.tokens["WETH"].address},
            "recipient": lambda t: {"recipient": devnet.accounts.deployer.address},
            "timelock": lambda t: {"timelock": t.timelock - 1},
        }
        tickets = {}
        sender = stack.trader.senders["alpha"]
        for name, change in wrong.items():
            _, ticket = await _open(stack)
            bad = ticket.lock.terms.model_copy(update=change(ticket.lock.terms))
            await stack.trader._approve(bad)
            receipt = await sender.transact(bad.htlc, lock_calldata(bad), gas=200_000)
            assert receipt.status == 1
            tickets[name] = (ticket, bad)
        for name, (ticket, bad) in tickets.items():
            swap = await stack.wait_phase(ticket.swap.id, [SwapPhase.AWAITING_SOURCE_REFUND])
            note = swap.notes[-1]
            assert note.reason is Reason.TERMS_MISMATCH and note.detail.startswith(name), note
            assert swap.source_lock == bad
        await mine(devnet.chain("beta").rpc_url, 3)
        await asyncio.sleep(0.3)
        for ticket, _ in tickets.values():
            swap = await stack.service.get_swap(ticket.swap.id)
            assert swap.txs == () and swap.pending is None
            [state] = await stack.clients["beta"].states(
                ticket.destination.htlc, [ticket.destination.id]
            )
            assert state is HtlcState.NONE
        # after its timelock the watchtower refunds each wrong lock to the trader
        latest = max(bad.timelock for _, bad in tickets.values())
        await increase_time(alpha.rpc_url, latest - await stack.chain_time("alpha") + 1)
        for ticket, _ in tickets.values():
            swap = await stack.wait_phase(ticket.swap.id, [SwapPhase.REFUNDED])
            assert [t.kind for t in swap.txs] == [TxKind.SOURCE_REFUND]
        assert await stack.token_balance("alpha", "USDC", trader) == before


async def test_a_lock_removed_by_a_reorg_before_its_confirmation_depth_gets_nothing(
    devnet_snapshot: DevnetManifest, redis_url: str, tmp_path: Path
) -> None:
    devnet = devnet_snapshot
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        deep = tuple(
            c.model_copy(update={"confirmations": 6}) if c.key == "alpha" else c
            for c in stack.config.chains
        )
        stack.config = stack.config.model_copy(update={"chains": deep})
        await stack.start_coordinator()
        _, ticket = await _open(stack)
        rpc = devnet.chain("alpha").rpc_url
        before_lock = await snapshot(rpc)
        await stack.trader.lock(ticket)
        await stack.wait_phase(ticket.swap.id, [SwapPhase.SOURCE_LOCKED])
        assert await revert(rpc, before_lock)  # the lock's block leaves the chain
        await mine(rpc, 8)  # well past the confirmation depth
        swap = await stack.wait_phase(ticket.swap.id, [SwapPhase.AWAITING_SOURCE_LOCK])
        assert swap.notes[-1].reason is Reason.SOURCE_LOCK_REORGED
        await mine(rpc, 4)
        await asyncio.sleep(0.5)
        swap = await stack.service.get_swap(ticket.swap.id)
        assert swap.phase is SwapPhase.AWAITING_SOURCE_LOCK and swap.txs == ()
        [state] = await stack.clients["beta"].states(
            ticket.destination.htlc, [ticket.destination.id]
        )
        assert state is HtlcState.NONE
        # with no lock by its deadline, the swap expires
        left = swap.lock_deadline - await stack.chain_time("alpha")
        await increase_time(rpc, left + 1)
        swap = await stack.wait_phase(ticket.swap.id, [SwapPhase.EXPIRED])
        assert swap.notes[-1].reason is Reason.LOCK_DEADLINE_PASSED


async def test_too_little_time_left_on_the_source_chain_refuses_the_destination_lock(
    devnet_snapshot: DevnetManifest, redis_url: str, tmp_path: Path
) -> None:
    devnet = devnet_snapshot
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        _, ticket = await _open(stack)
        await stack.trader.lock(ticket)
        # the source chain's clock jumps: the trader's lock has little time left
        policy = stack.config.policy_for("alpha", "beta")
        left_a = ticket.lock.terms.timelock - await stack.chain_time("alpha")
        left_b = ticket.destination.timelock - await stack.chain_time("beta")
        jump = left_a - left_b - policy.claim_allowance_s + 3
        assert 0 < jump < left_a
        await increase_time(devnet.chain("alpha").rpc_url, jump)
        await stack.start_coordinator()
        swap = await stack.wait_phase(ticket.swap.id, [SwapPhase.AWAITING_SOURCE_REFUND])
        note = swap.notes[-1]
        assert note.reason is Reason.TIMELOCK_UNSAFE and note.error_code == "timelock_unsafe"
        assert swap.txs == ()
        [state] = await stack.clients["beta"].states(
            ticket.destination.htlc, [ticket.destination.id]
        )
        assert state is HtlcState.NONE
