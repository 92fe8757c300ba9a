"""Nonces of the resolver's accounts, shared through Redis by every sender of the service.

This is the one nonce authority of each (chain, account): the coordinators'
swap transactions, their approvals, and the trades the resolver's connectors
send (through :meth:`NonceManager.send`, the Redis-backed
:class:`~aggregator.chain.nonces.NonceSource`) all take their nonces here.

The next nonce of (chain, account) lives in Redis. A sender signs with it and
takes it in the same compare-and-set commit that records the signed
transaction (:meth:`SwapStore.commit` for a swap's, :meth:`NonceManager.record`
for any other), so two senders never sign two transactions with one nonce, and
every nonce taken belongs to a transaction on record that will be broadcast
(again, after a crash) until its receipt is in. A sender that dies between the
commit and the broadcast leaves a transaction to resend, never a gap; a
transaction the node refuses is replaced on record by a zero-value transfer
with its nonce (see :meth:`NonceManager.send`). In one process the senders of
an account also share one lock (:meth:`NonceManager.lock`), held from taking a
nonce until its broadcast, so transactions reach the node in nonce order, and
the last nonce taken is cached, so they rarely lose a commit to each other.

On start, :meth:`NonceManager.reconcile` aligns Redis with the chain: nonces
the chain already used (by transactions Redis does not know, or after Redis
lost its state) move the counter forward; transactions on record that the
chain has not yet included are returned for rebroadcast, in nonce order; and
nonces taken but without a transaction on record are returned as gaps, to be
filled so later transactions are not stuck behind them
(:meth:`NonceManager.recover` does all three).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from hexbytes import HexBytes
from redis.asyncio import Redis
from redis.exceptions import WatchError

from aggregator.chain.nonces import AccountChain, SendResult, Signer
from aggregator.chain.rpc import SignedTx
from aggregator.errors import ChainError, RpcUnavailableError, StateConflictError
from aggregator.models.units import now_ns
from aggregator.settlement.keys import Keys
from aggregator.settlement.store import TxRecord

__all__ = ["NonceManager", "Reconciliation"]

log = logging.getLogger(__name__)

_RETRIES = 5
"""Commits a sender may lose to other processes before it gives up on one transaction."""


@dataclass(frozen=True)
class Reconciliation:
    """What an account needs after :meth:`NonceManager.reconcile`."""

    next_nonce: int
    rebroadcast: tuple[TxRecord, ...]
    gaps: tuple[int, ...]


def _signed(record: TxRecord) -> SignedTx:
    return SignedTx(raw=HexBytes(record.raw), hash=HexBytes(record.hash), nonce=record.nonce, gas=0)


class NonceManager:
    """Redis-backed nonce counters per (chain id, account) (see the module docstring).

    Also the :class:`~aggregator.chain.nonces.NonceSource` the service hands to the
    connectors that sign as the resolver.
    """

    def __init__(self, redis: Redis, keys: Keys | None = None) -> None:
        self.redis = redis
        self.keys = keys or Keys()
        self._next: dict[tuple[int, str], int] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._unsent: dict[tuple[int, str], dict[str, TxRecord]] = {}

    # -- this process's senders of an account -----------------------------------

    def lock(self, chain_id: int, address: str) -> asyncio.Lock:
        """The lock this process's senders of the account hold from nonce to broadcast."""
        return self._locks.setdefault((chain_id, address.lower()), asyncio.Lock())

    async def next_nonce(self, chain_id: int, address: str) -> int | None:
        """The next nonce: after this process's last commit, else from Redis (None if
        Redis has none yet). A commit checks it under WATCH either way."""
        cached = self._next.get((chain_id, address.lower()))
        return cached if cached is not None else await self.peek(chain_id, address)

    def taken(self, chain_id: int, address: str, nonce: int) -> None:
        """A commit took ``nonce``: the next one is ``nonce + 1``."""
        self._next[(chain_id, address.lower())] = nonce + 1

    def forget(self, chain_id: int, address: str) -> None:
        """Read the next nonce from Redis again (a commit lost, a reconciliation)."""
        self._next.pop((chain_id, address.lower()), None)

    # -- Redis ------------------------------------------------------------------

    async def peek(self, chain_id: int, address: str) -> int | None:
        """The next nonce to sign with, or None if Redis has none yet."""
        raw = await self.redis.get(self.keys.nonce(chain_id, address))
        return None if raw is None else int(raw)

    async def record(self, tx: TxRecord) -> None:
        """Put a transaction that belongs to no swap on record, taking its nonce.

        :class:`StateConflictError` if the nonce is not the account's next one.
        """
        key = self.keys.nonce(tx.chain_id, tx.sender)
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(key)
            found = await pipe.get(key)
            if found is None or int(found) != tx.nonce:
                raise StateConflictError("nonce taken", chain_id=tx.chain_id, nonce=tx.nonce)
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(self.keys.tx(tx.chain_id, tx.hash), tx.model_dump_json())
            pipe.set(key, tx.nonce + 1)
            pipe.zadd(self.keys.unconfirmed(tx.chain_id, tx.sender), {tx.hash: tx.nonce})
            try:
                await pipe.execute()
            except WatchError as exc:
                raise StateConflictError("nonce taken", chain_id=tx.chain_id) from exc

    async def confirmed(self, chain_id: int, address: str, tx_hash: str) -> None:
        """The transaction's receipt is recorded: it leaves the account's backlog."""
        await self.redis.zrem(self.keys.unconfirmed(chain_id, address), tx_hash)

    async def backlog(self, chain_id: int, address: str, below: int) -> list[TxRecord]:
        """The account's transactions on record without a receipt, with a nonce under
        ``below``, in nonce order."""
        members = await self.redis.zrangebyscore(
            self.keys.unconfirmed(chain_id, address), 0, below - 1
        )
        if not members:
            return []
        hashes = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
        raws = await self.redis.mget([self.keys.tx(chain_id, h) for h in hashes])
        records = [TxRecord.model_validate_json(r) for r in raws if r is not None]
        return sorted(records, key=lambda r: r.nonce)

    # -- the nonce source -------------------------------------------------------

    async def send(self, account: AccountChain, sign: Signer, *, label: str = "") -> SignedTx:
        """Take the next nonce with the signed transaction on record, then broadcast it.

        Under the account's :meth:`lock`. Returns once the transaction is on record
        and was offered to the node; when the node could not be reached it stays on
        record and is sent again (:meth:`recover`, or ahead of a later transaction
        stuck behind it). Raises, with no nonce held by the caller's transaction,
        when no nonce could be taken, when the node refused the transaction (its
        record is replaced by a zero-value transfer with its nonce, broadcast in its
        place), or when the nonce turns out used by a transaction this manager never
        recorded (the counter then follows the chain).
        """
        chain_id, address = account.chain_id, account.address
        async with self.lock(chain_id, address):
            await self.send_unsent(account)
            signed, record = await self._take(account, sign, label)
            try:
                result = await account.broadcast(signed)
            except RpcUnavailableError as exc:
                log.warning(
                    "broadcast of %s on %s failed, kept on record: %s",
                    record.hash,
                    account.chain_key,
                    exc.message,
                )
                self._unsent.setdefault((chain_id, address.lower()), {})[record.hash] = record
                return signed
            except ChainError as exc:
                await self._void(account, record, exc)
                raise
            if result is SendResult.NONCE_USED and not await account.transaction_known(record.hash):
                await self.confirmed(chain_id, address, record.hash)
                await self.recover(account)
                raise ChainError(
                    "the nonce is used by a transaction this service did not record",
                    chain=account.chain_key,
                    nonce=record.nonce,
                )
            return signed

    async def confirm(self, account: AccountChain, tx_hash: str) -> None:
        await self.confirmed(account.chain_id, account.address, tx_hash)

    async def send_unsent(self, account: AccountChain) -> None:
        """Broadcast again, in nonce order, the transactions :meth:`send` put on record
        in this process that never reached the node: under the account's :meth:`lock`,
        before a later transaction of the account takes its nonce."""
        waiting = self._unsent.get((account.chain_id, account.address.lower()))
        if not waiting:
            return
        for record in sorted(waiting.values(), key=lambda r: r.nonce):
            try:
                await account.broadcast(_signed(record))
            except RpcUnavailableError:
                return  # still unreachable: the later one will wait behind it anyway
            except ChainError as exc:
                await self._void(account, record, exc)
            waiting.pop(record.hash, None)

    async def _take(
        self, account: AccountChain, sign: Signer, label: str
    ) -> tuple[SignedTx, TxRecord]:
        chain_id, address = account.chain_id, account.address
        for _ in range(_RETRIES):
            nonce = await self.next_nonce(chain_id, address)
            if nonce is None:
                nonce = (await self.recover(account)).next_nonce
            signed = sign(nonce)
            record = TxRecord(
                chain=account.chain_key,
                chain_id=chain_id,
                sender=address,
                hash=signed.hash.to_0x_hex(),
                nonce=nonce,
                raw=signed.raw.to_0x_hex(),
                label=label,
                created_ns=now_ns(),
            )
            try:
                await self.record(record)
            except StateConflictError:
                self.forget(chain_id, address)
                continue
            self.taken(chain_id, address, nonce)
            return signed, record
        raise StateConflictError("no free nonce", chain=account.chain_key)

    async def _void(self, account: AccountChain, record: TxRecord, exc: ChainError) -> None:
        """The node refused ``record``: a zero-value transfer takes its nonce instead."""
        log.warning(
            "%s on %s refused (%s): its nonce %d goes to a void transfer",
            record.hash,
            account.chain_key,
            exc.message,
            record.nonce,
        )
        try:
            void = await account.void_tx(record.nonce)
        except ChainError as void_exc:  # the refused one stays on record: sent again later
            log.error(
                "no void transfer for nonce %d on %s: %s", record.nonce, account.chain_key, void_exc
            )
            return
        filler = record.model_copy(
            update={
                "hash": void.hash.to_0x_hex(),
                "raw": void.raw.to_0x_hex(),
                "label": f"void of {record.label or record.hash}",
                "created_ns": now_ns(),
            }
        )
        backlog = self.keys.unconfirmed(record.chain_id, record.sender)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.tx(filler.chain_id, filler.hash), filler.model_dump_json())
            pipe.zrem(backlog, record.hash)
            pipe.zadd(backlog, {filler.hash: filler.nonce})
            await pipe.execute()
        try:
            await account.broadcast(void)
        except ChainError as void_exc:  # kept on record: sent again with the backlog
            log.error("void transfer %s on %s: %s", filler.hash, account.chain_key, void_exc)

    async def recover(self, account: AccountChain) -> Reconciliation:
        """Reconcile with the chain, resend the backlog in nonce order and fill the gaps.

        Callers that hold the account's :meth:`lock` may call it; it does not take it.
        """
        chain_id, address = account.chain_id, account.address
        self.forget(chain_id, address)
        included, pending = await asyncio.gather(
            account.transaction_count("latest"), account.transaction_count("pending")
        )
        rec = await self.reconcile(chain_id, address, included, pending)
        for tx in rec.rebroadcast:
            await self._resend(account, _signed(tx))
        for nonce in rec.gaps:
            # A nonce taken without a transaction on record: fill it so later ones go through.
            log.warning("filling nonce gap %d on %s", nonce, account.chain_key)
            await self._resend(account, await account.void_tx(nonce))
        return rec

    async def resend(self, account: AccountChain, below: int) -> None:
        """Send again the account's backlog under nonce ``below`` that the chain has not
        included (what a later transaction may wait behind), in nonce order."""
        included = await account.transaction_count("latest")
        if included >= below:
            return
        backlog = self.keys.unconfirmed(account.chain_id, account.address)
        await self.redis.zremrangebyscore(backlog, 0, included - 1)  # included (or replaced)
        for tx in await self.backlog(account.chain_id, account.address, below):
            await self._resend(account, _signed(tx))

    @staticmethod
    async def _resend(account: AccountChain, tx: SignedTx) -> None:
        try:
            await account.broadcast(tx)
        except ChainError as exc:
            log.warning(
                "broadcast of %s on %s failed: %s", tx.hash.to_0x_hex(), account.chain_key, exc
            )

    async def reconcile(
        self, chain_id: int, address: str, chain_nonce: int, pending_nonce: int | None = None
    ) -> Reconciliation:
        """Align with the chain: ``chain_nonce`` is the account's count of included
        transactions, ``pending_nonce`` (default: the same) its count with the node's pool.

        Transactions on record below ``chain_nonce`` are included (or replaced): they
        leave the backlog. The counter moves up to ``pending_nonce`` (transactions this
        record does not know took those nonces), never backwards.
        """
        ahead = chain_nonce if pending_nonce is None else max(chain_nonce, pending_nonce)
        key = self.keys.nonce(chain_id, address)
        backlog = self.keys.unconfirmed(chain_id, address)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key, backlog)
                    raw = await pipe.get(key)
                    stored = None if raw is None else int(raw)
                    members: list[Any] = await pipe.zrange(backlog, 0, -1, withscores=True)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    next_nonce = max(stored or 0, ahead)
                    pipe.set(key, next_nonce)
                    stale = [m for m, score in members if int(score) < chain_nonce]
                    if stale:
                        pipe.zrem(backlog, *stale)
                    await pipe.execute()
                    break
                except WatchError:  # another coordinator moved it meanwhile: read again
                    continue
        waiting = sorted(
            (int(score), m.decode() if isinstance(m, bytes) else str(m))
            for m, score in members
            if int(score) >= chain_nonce
        )
        records: list[TxRecord] = []
        for _, tx_hash in waiting:
            raw_tx = await self.redis.get(self.keys.tx(chain_id, tx_hash))
            if raw_tx is not None:
                records.append(TxRecord.model_validate_json(raw_tx))
        covered = {r.nonce for r in records}
        gaps = tuple(n for n in range(ahead, next_nonce) if n not in covered)
        return Reconciliation(next_nonce=next_nonce, rebroadcast=tuple(records), gaps=gaps)
