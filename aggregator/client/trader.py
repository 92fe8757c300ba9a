"""The trader's side of a swap: lock, check the resolver's lock, claim, or refund alone.

The trader trusts nothing it can check: it verifies every term the service
gives against the quote before locking, claims only a destination lock whose
terms are exactly the expected ones (amount equal to the quote's output, its
own address, its hashlock, the agreed timelock), and if no such lock comes, or
it cannot claim in time, it refunds its own lock once the source chain's
clock passes T_A. Times are the chains' clocks, never the local one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import aiohttp
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from aggregator.client.vault import SecretVault, VaultEntry
from aggregator.errors import ChainError, TermsMismatchError
from aggregator.models.quote import Quote
from aggregator.settlement.chain import AccountSender, ChainClient, RpcCounter
from aggregator.settlement.config import ChainEndpoint
from aggregator.settlement.machine import Receipt
from aggregator.settlement.service import SwapTicket
from aggregator.settlement.terms import (
    LOCKED_TOPIC,
    MAX_UINT256,
    HtlcState,
    HtlcTerms,
    allowance_calldata,
    approve_calldata,
    claim_calldata,
    decode_lock_data,
    lock_calldata,
    refund_calldata,
    terms_differences,
)

__all__ = ["SwapApi", "TraderClient", "TraderOutcome", "TraderResult"]

_GAS_LOCK = 200_000
_GAS_CLAIM = 150_000
_GAS_REFUND = 120_000
_GAS_APPROVE = 100_000


class SwapApi(Protocol):
    """What the trader needs from the service (in process, or over HTTP)."""

    async def create_swap(
        self,
        quote_id: str,
        trader_source_address: str,
        trader_destination_address: str,
        hashlock: str,
    ) -> SwapTicket: ...


class TraderOutcome(StrEnum):
    CLAIMED = "claimed"
    """Received the quoted output on the destination chain."""
    REFUNDED = "refunded"
    """Got the input back on the source chain."""


@dataclass(frozen=True)
class TraderResult:
    outcome: TraderOutcome
    ticket: SwapTicket
    reason: str = ""


class TraderClient:
    """One trader account on every chain (see the module docstring)."""

    def __init__(
        self,
        account: LocalAccount,
        chains: Mapping[str, ChainEndpoint],
        vault: SecretVault,
        session: aiohttp.ClientSession,
        *,
        counter: RpcCounter | None = None,
        poll_s: float = 0.003,
        claim_margin_s: int = 2,
        expected_resolver: str | None = None,
    ) -> None:
        self.account = account
        self.chains = dict(chains)
        self.vault = vault
        self.poll_s = poll_s
        self.claim_margin_s = claim_margin_s
        self.expected_resolver = expected_resolver
        self.clients = {
            c.key: ChainClient(c.key, c.chain_id, c.rpc_url, session, counter)
            for c in chains.values()
        }
        self.senders = {k: AccountSender(c, account) for k, c in self.clients.items()}
        self._approved: set[tuple[str, str]] = set()
        self._flushes: dict[str, asyncio.Future[None]] = {}
        self._from_block: dict[str, int] = {}

    @property
    def address(self) -> str:
        return str(self.account.address)

    # -- steps --------------------------------------------------------------

    async def open(self, quote: Quote, api: SwapApi) -> tuple[VaultEntry, SwapTicket]:
        """Make and store a secret, ask for the swap, check every term against the quote.

        The secret's flush to disk and the chains' heads are read while the service
        answers; :meth:`lock` waits for the flush.
        """
        entry, flushed = self.vault.new_secret()
        self._flushes[entry.hashlock] = flushed
        plan = quote.settlement
        ticket, src_head, dst_head = await asyncio.gather(
            api.create_swap(quote.id, self.address, self.address, entry.hashlock),
            self.clients[plan.source_chain].head(),
            self.clients[plan.destination_chain].head(),
        )
        self._from_block[entry.hashlock] = dst_head.number
        self.verify(quote, entry.hashlock, ticket, src_head.timestamp, dst_head.timestamp)
        self.vault.attach(entry.hashlock, ticket)
        return entry, ticket

    def verify(
        self, quote: Quote, hashlock: str, ticket: SwapTicket, src_time: int, dst_time: int
    ) -> None:
        """:class:`TermsMismatchError` unless the ticket's terms are the quote's."""
        plan = quote.settlement
        src, dst = self.chains[plan.source_chain], self.chains[plan.destination_chain]
        lock, dest = ticket.lock.terms, ticket.destination
        resolver = lock.recipient
        expected_src = {
            "chain_id": src.chain_id,
            "htlc": src.htlc,
            "sender": self.address,
            "token": src.tokens[quote.request.sell.asset],
            "amount": quote.amount_in,
            "hashlock": hashlock,
        }
        expected_dst = {
            "chain_id": dst.chain_id,
            "htlc": dst.htlc,
            "sender": resolver,
            "recipient": self.address,
            "token": dst.tokens[quote.request.buy.asset],
            "amount": quote.amount_out,
            "hashlock": hashlock,
        }
        wrong = [f"source {k}" for k, v in expected_src.items() if getattr(lock, k) != v]
        wrong += [f"destination {k}" for k, v in expected_dst.items() if getattr(dest, k) != v]
        if self.expected_resolver is not None and resolver != self.expected_resolver:
            wrong.append("resolver")
        if ticket.lock.calldata != "0x" + lock_calldata(lock).hex():
            wrong.append("calldata")
        left_a, left_b = lock.timelock - src_time, dest.timelock - dst_time
        if not 0 < left_b < left_a:
            wrong.append(f"timelocks (left on A {left_a}s, on B {left_b}s)")
        if wrong:
            raise TermsMismatchError("the service's terms differ from the quote", terms=wrong)

    async def lock(self, ticket: SwapTicket) -> Receipt:
        """Lock on the source chain, once the secret is safely on disk."""
        terms = ticket.lock.terms
        flushed = self._flushes.pop(terms.hashlock, None)
        if flushed is not None:
            await flushed
        sender = self.senders[terms.chain]
        if not terms.native:
            await self._approve(terms)
        receipt = await sender.transact(
            terms.htlc, lock_calldata(terms), gas=_GAS_LOCK, value=terms.value
        )
        if receipt.status != 1:
            raise ChainError("the source lock reverted", chain=terms.chain)
        return receipt

    async def _approve(self, terms: HtlcTerms) -> None:
        key = (terms.chain, terms.token)
        if key in self._approved:
            return
        client = self.clients[terms.chain]
        raw = await client.eth_call(terms.token, allowance_calldata(self.address, terms.htlc))
        if int.from_bytes(raw[:32], "big") < terms.amount:
            data = approve_calldata(terms.htlc, MAX_UINT256)
            await self.senders[terms.chain].transact(terms.token, data, gas=_GAS_APPROVE)
        self._approved.add(key)

    def _matching(self, expected: HtlcTerms, log: dict[str, Any]) -> bool:
        recipient, token, amount, timelock = decode_lock_data(bytes.fromhex(log["data"][2:]))
        seen = expected.model_copy(
            update={
                "sender": to_checksum_address("0x" + str(log["topics"][3])[-40:]),
                "recipient": recipient,
                "token": token,
                "amount": amount,
                "timelock": timelock,
            }
        )
        return not terms_differences(expected, seen)

    async def wait_destination_lock(
        self, ticket: SwapTicket, from_block: int | None = None
    ) -> bool:
        """Poll until the expected lock is final (True) or too late to claim it (False).

        Only a lock with exactly the expected terms counts, once it has the
        destination chain's confirmation depth, so a claim never reveals the
        secret for a lock that could still vanish.
        """
        dest = ticket.destination
        client = self.clients[dest.chain]
        depth = self.chains[dest.chain].confirmations
        start = self._from_block.get(dest.hashlock, 0) if from_block is None else from_block
        topics = [LOCKED_TOPIC, None, dest.hashlock]
        while True:
            head, logs = await client.head_and_logs(dest.htlc, start, topics)
            for log in logs:
                block = int(log["blockNumber"], 16)
                if self._matching(dest, log) and head.number >= block + depth - 1:
                    return True
            if head.timestamp >= dest.timelock - self.claim_margin_s:
                return False
            await asyncio.sleep(self.poll_s)

    async def claim(self, ticket: SwapTicket, preimage: str) -> Receipt:
        dest = ticket.destination
        return await self.senders[dest.chain].transact(
            dest.htlc, claim_calldata(dest, preimage), gas=_GAS_CLAIM
        )

    async def refund(self, ticket: SwapTicket, *, poll_s: float = 0.2) -> HtlcState:
        """Wait for T_A on the source chain's clock, then refund (unless someone did)."""
        lock = ticket.lock.terms
        client = self.clients[lock.chain]
        while True:
            [state] = await client.states(lock.htlc, [lock.id])
            if state is not HtlcState.LOCKED:
                return state
            if (await client.head()).timestamp >= lock.timelock:
                break
            await asyncio.sleep(poll_s)
        await self.senders[lock.chain].transact(lock.htlc, refund_calldata(lock), gas=_GAS_REFUND)
        [state] = await client.states(lock.htlc, [lock.id])
        return state

    # -- the whole swap -----------------------------------------------------

    async def swap(self, quote: Quote, api: SwapApi, *, claim: bool = True) -> TraderResult:
        """Run a swap to its end: the output claimed, or the input refunded."""
        entry, ticket = await self.open(quote, api)
        await self.lock(ticket)
        if claim and await self.wait_destination_lock(ticket):
            receipt = await self.claim(ticket, entry.preimage)
            if receipt.status == 1:
                return TraderResult(TraderOutcome.CLAIMED, ticket)
        state = await self.refund(ticket)
        if state is HtlcState.REFUNDED:
            return TraderResult(TraderOutcome.REFUNDED, ticket, "no claimable lock in time")
        raise ChainError("the source lock ended neither refunded nor claimed", state=state.name)
