"""Nonces of the resolver's accounts, shared through Redis by every coordinator.

The next nonce of (chain, account) lives in Redis. A coordinator signs with it
and takes it in the same compare-and-set commit that records the signed
transaction (see :meth:`SwapStore.commit`), so two coordinators never sign two
transactions with one nonce, and every nonce taken belongs to a transaction on
record that will be broadcast (again, after a crash) until its receipt is in.

On start, :meth:`NonceManager.reconcile` aligns Redis with the chain: nonces
the chain already used (by transactions Redis does not know, or after Redis
lost its state) move the counter forward; transactions on record that the
chain has not yet included are returned for rebroadcast, in nonce order; and
nonces taken but without a transaction on record are returned as gaps, to be
filled so later transactions are not stuck behind them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from aggregator.settlement.keys import Keys
from aggregator.settlement.store import TxRecord

__all__ = ["NonceManager", "Reconciliation"]


@dataclass(frozen=True)
class Reconciliation:
    """What an account needs after :meth:`NonceManager.reconcile`."""

    next_nonce: int
    rebroadcast: tuple[TxRecord, ...]
    gaps: tuple[int, ...]


class NonceManager:
    """Redis-backed nonce counters per (chain id, account)."""

    def __init__(self, redis: Redis, keys: Keys | None = None) -> None:
        self.redis = redis
        self.keys = keys or Keys()

    async def peek(self, chain_id: int, address: str) -> int | None:
        """The next nonce to sign with, or None if Redis has none yet."""
        raw = await self.redis.get(self.keys.nonce(chain_id, address))
        return None if raw is None else int(raw)

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
