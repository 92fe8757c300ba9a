"""The resolver's transactions: sign, persist with the transition, broadcast, record the receipt.

Order of every send (per account and chain, under the nonce manager's lock, which
every sender of the account in the process holds, so nonces go out in order):

1. build the calldata (one ``lockBatch`` for several destination locks);
2. sign with the account's next nonce from the nonce manager (Redis), the one
   authority for the account's nonces, whose other users are the resolver's
   connectors sending trades;
3. commit the swaps' transitions together with the signed transaction and the
   nonce (:meth:`SwapStore.commit`) — crash point ``<phase>:after_persist``;
4. broadcast — crash point ``<kind>:after_broadcast``;
5. wait for the receipt, run the state machine with it and commit the result.

A restart between any two of these finds the transaction on record and sends
the same bytes again; it never signs a second transaction for the same step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from aggregator.chain.nonces import SendResult
from aggregator.errors import ChainError, StateConflictError
from aggregator.models.units import now_ns
from aggregator.settlement.chain import ChainAccount, ChainClient, SignedTx, as_chain_tx
from aggregator.settlement.machine import ActionKind, Decision, Receipt, step
from aggregator.settlement.store import TxRecord, UnconfirmedTx
from aggregator.settlement.swap import Swap, TxKind, TxRef
from aggregator.settlement.terms import (
    allowance_calldata,
    approve_calldata,
    claim_calldata,
    lock_batch_calldata,
    lock_calldata,
    refund_calldata,
)

if TYPE_CHECKING:
    from aggregator.settlement.coordinator import Coordinator

__all__ = ["Sender"]

log = logging.getLogger(__name__)

_APPROVED = 2**200
_NONCE_RETRIES = 5


class Sender:
    """Transactions of one coordinator (see the module docstring).

    Nonces come from the coordinator's :class:`~aggregator.settlement.nonces.NonceManager`,
    the one authority every sender of the resolver's accounts shares: its lock per
    account is held from taking a nonce until the broadcast.
    """

    def __init__(self, coordinator: Coordinator) -> None:
        self.coord = coordinator
        self.accounts = {
            key: ChainAccount(client, coordinator.account)
            for key, client in coordinator.clients.items()
        }
        self._last_broadcast: dict[str, float] = {}

    @property
    def address(self) -> str:
        return self.coord.address

    # -- nonces -------------------------------------------------------------

    def _lock(self, chain: str) -> asyncio.Lock:
        return self.coord.nonces.lock(self.coord.clients[chain].chain_id, self.address)

    async def _next_nonce(self, chain: str) -> int:
        """The next nonce: from the manager's last commit, else from Redis (the commit
        checks it under WATCH either way); reconciled with the chain if Redis has none."""
        client = self.coord.clients[chain]
        nonce = await self.coord.nonces.next_nonce(client.chain_id, self.address)
        if nonce is None:
            nonce = (await self.coord.nonces.recover(self.accounts[chain])).next_nonce
        return nonce

    async def reconcile_nonces(self) -> None:
        await asyncio.gather(*(self._reconcile(key) for key in self.coord.clients))

    async def _reconcile(self, chain: str) -> None:
        await self.coord.nonces.recover(self.accounts[chain])

    def _sign(
        self, client: ChainClient, to: str, data: bytes, *, nonce: int, gas: int, value: int = 0
    ) -> SignedTx:
        return self.accounts[client.key].sign(to, data, nonce=nonce, gas=gas, value=value)

    async def _broadcast(self, client: ChainClient, raw: str, tx_hash: str) -> None:
        self._last_broadcast[tx_hash] = time.monotonic()
        try:
            result = await client.send_raw(raw)
        except ChainError as exc:  # kept on record: sent again later
            log.warning("broadcast of %s on %s failed: %s", tx_hash, client.key, exc.message)
            return
        if result is SendResult.NONCE_USED and not await client.transaction_known(tx_hash):
            # A transaction this service never recorded took the nonce (the key is used
            # elsewhere): move the counter past it; the swap's transaction is then found
            # dropped and decided again.
            log.warning("nonce of %s on %s used by another transaction", tx_hash, client.key)
            await self._reconcile(client.key)

    async def rebroadcast(self, swap: Swap) -> None:
        """Send the swap's pending transaction again if it has been quiet for a while,
        after the account's transactions on record ahead of it (another sender's may
        not have reached the node)."""
        pending = swap.pending
        if pending is None:
            return
        last = self._last_broadcast.get(pending.hash, 0.0)
        if time.monotonic() - last < self.coord.config.rebroadcast_after_s:
            return
        client = self.coord.clients[pending.chain]
        await self.coord.nonces.resend(self.accounts[pending.chain], pending.nonce)
        record = await self.coord.store.get_tx(client.chain_id, pending.hash)
        if record is not None:
            await self._broadcast(client, record.raw, record.hash)

    # -- approvals ----------------------------------------------------------

    async def ensure_approvals(self) -> None:
        """Let each chain's HTLC pull the resolver's tokens (once; idempotent)."""

        async def chain_approvals(key: str) -> None:
            endpoint = self.coord.config.chain(key)
            client = self.coord.clients[key]
            for token in endpoint.tokens.values():
                raw = await client.eth_call(token, allowance_calldata(self.address, endpoint.htlc))
                if int.from_bytes(raw[:32] or b"\0", "big") >= _APPROVED:
                    continue
                data = approve_calldata(endpoint.htlc)
                await self._send_plain(key, token, data, self.coord.config.gas.approve)

        await asyncio.gather(*(chain_approvals(key) for key in self.coord.clients))

    async def _send_plain(self, chain: str, to: str, data: bytes, gas: int) -> None:
        client = self.coord.clients[chain]
        account = self.accounts[chain]
        signed = await self.coord.nonces.send(
            account,
            lambda nonce: as_chain_tx(account.sign(to, data, nonce=nonce, gas=gas), gas),
            label="settlement approve",
        )
        tx_hash = signed.hash.to_0x_hex()
        await client.wait_receipt(tx_hash, timeout=self.coord.config.receipt_timeout_s)
        await self.coord.nonces.confirm(account, tx_hash)

    def _record(
        self, client: ChainClient, signed: SignedTx, kind: TxKind | None, ids: Sequence[str]
    ) -> TxRecord:
        return TxRecord(
            chain=client.key,
            chain_id=client.chain_id,
            sender=self.address,
            hash=signed.hash,
            nonce=signed.nonce,
            raw=signed.raw,
            kind=kind,
            swap_ids=tuple(ids),
            created_ns=now_ns(),
        )

    # -- swap transactions --------------------------------------------------

    def _call_for(self, kind: TxKind, swaps: Sequence[Swap]) -> tuple[str, str, bytes, int, int]:
        """(chain, contract, calldata, value, gas) of one transaction for ``swaps``."""
        gas = self.coord.config.gas
        if kind is TxKind.DESTINATION_LOCK:
            terms = [s.destination for s in swaps if s.destination is not None]
            first = terms[0]
            value = sum(t.value for t in terms)
            if len(terms) == 1:
                return first.chain, first.htlc, lock_calldata(first), value, gas.lock
            limit = gas.lock_batch_base + gas.lock_batch_per_item * len(terms)
            return first.chain, first.htlc, lock_batch_calldata(terms), value, limit
        [swap] = swaps
        if kind is TxKind.SOURCE_CLAIM:
            assert swap.preimage is not None
            src = swap.source
            return src.chain, src.htlc, claim_calldata(src, swap.preimage), 0, gas.claim
        if kind is TxKind.SOURCE_REFUND:
            lock = swap.watched_source
            return lock.chain, lock.htlc, refund_calldata(lock), 0, gas.refund
        assert swap.destination is not None
        dest = swap.destination
        return dest.chain, dest.htlc, refund_calldata(dest), 0, gas.refund

    async def send_group(self, group: Sequence[tuple[Swap, Decision]]) -> None:
        """Send one transaction for the swaps of ``group`` (same chain and kind)."""
        action = next(a for a in group[0][1].actions if a.kind is ActionKind.SEND_TX)
        assert action.tx_kind is not None
        kind = action.tx_kind
        chain, to, data, value, gas = self._call_for(kind, [d.swap for _, d in group])
        client = self.coord.clients[chain]
        async with self._lock(chain):
            await self.coord.nonces.send_unsent(self.accounts[chain])
            for _ in range(_NONCE_RETRIES):
                nonce = await self._next_nonce(chain)
                signed = self._sign(client, to, data, nonce=nonce, gas=gas, value=value)
                ref = TxRef(
                    kind=kind, chain=chain, hash=signed.hash, nonce=nonce, batch_size=len(group)
                )
                items = [
                    (before, replace(d, swap=d.swap.model_copy(update={"pending": ref})))
                    for before, d in group
                ]
                record = self._record(client, signed, kind, [b.id for b, _ in group])
                try:
                    afters = await self.coord.commit(items, tx=record)
                    self.coord.nonces.taken(client.chain_id, self.address, nonce)
                    break
                except StateConflictError:
                    self.coord.nonces.forget(client.chain_id, self.address)
                    if await self.coord.nonces.peek(client.chain_id, self.address) == nonce:
                        raise  # a swap changed under us: the next tick decides again
            else:
                raise StateConflictError("no free nonce", chain=chain)
            await self._broadcast(client, signed.raw, signed.hash)
            self.coord.crash.check(kind.value, "after_broadcast")
        receipt = await client.wait_receipt(
            signed.hash, timeout=self.coord.config.receipt_timeout_s
        )
        await self.record_receipt(afters, receipt)

    async def record_receipt(self, swaps: Sequence[Swap], receipt: Receipt) -> None:
        """Run the state machine on the swaps' shared receipt and commit the outcome."""
        share = receipt.gas_used // max(1, len(swaps))
        own = receipt.model_copy(update={"gas_used": share})
        items = []
        for swap in swaps:
            obs = self.coord.observe(swap, receipt=own)
            items.append((swap, step(swap, obs, self.coord.policy(swap))))
        pending = swaps[0].pending
        assert pending is not None
        chain_id = self.coord.clients[pending.chain].chain_id
        done = UnconfirmedTx(chain_id, self.address, pending.hash)
        await self.coord.commit(items, confirmed=[done])
