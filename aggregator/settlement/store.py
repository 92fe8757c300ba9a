"""Swap state in Redis: versioned records changed only by compare-and-set.

A commit WATCHes every swap it changes, their leases and (when it sends a
transaction) the account's nonce key, checks each swap's version and the
lease token (fencing: a coordinator whose lease expired cannot write), then in
one MULTI/EXEC writes the new records, the phase indexes, the signed
transaction with its nonce, and one outbox event per transition. So an event
exists if and only if its transition does, and a transaction is on record
before anyone can broadcast it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from aggregator.errors import (
    ConflictError,
    LeaseLostError,
    StateConflictError,
    SwapNotFoundError,
)
from aggregator.journal.events import LegExecutionEvent, SwapEvent
from aggregator.journal.outbox import Outbox
from aggregator.models.quote import QuotePath
from aggregator.models.units import now_ns
from aggregator.settlement.keys import Keys
from aggregator.settlement.legs import LegRecord
from aggregator.settlement.swap import Swap, SwapPhase, TxKind

__all__ = ["SwapStore", "Transition", "TxRecord", "UnconfirmedTx", "swap_event"]


class TxRecord(BaseModel):
    """A signed transaction exactly as it will be (re)broadcast."""

    model_config = ConfigDict(frozen=True)

    chain: str
    chain_id: int
    sender: str
    hash: str
    nonce: int = Field(ge=0)
    raw: str = Field(description="Signed transaction, 0x-hex.")
    kind: TxKind | None = Field(
        default=None,
        description="None for a transaction of no swap: an approval, a connector's trade, "
        "a transfer that fills a nonce.",
    )
    swap_ids: tuple[str, ...] = ()
    label: str = Field(default="", description="What a transaction of no swap is, and who sent it.")
    created_ns: int


@dataclass(frozen=True)
class UnconfirmedTx:
    """A receipt was recorded for this transaction: drop it from the account's backlog."""

    chain_id: int
    sender: str
    hash: str


@dataclass(frozen=True)
class Transition:
    """``before`` (as read) becomes ``after``; the store sets the version and time."""

    before: Swap
    after: Swap
    ts_event: int = field(default_factory=now_ns)


def _decode(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def swap_event(before: Swap | None, after: Swap, ts_event: int) -> SwapEvent:
    """The outbox event of a transition, naming the transaction it sent or settled."""
    chain, tx_hash, block, gas, batch = "", "", None, None, None
    if after.pending is not None and (before is None or before.pending != after.pending):
        ref = after.pending
        chain, tx_hash, batch = ref.chain, ref.hash, ref.batch_size
    elif before is not None and before.pending is not None and after.pending is None:
        ref = after.txs[-1] if after.txs else before.pending
        chain, tx_hash, block, gas, batch = (
            ref.chain,
            ref.hash,
            ref.block,
            ref.gas_used,
            ref.batch_size,
        )
    return SwapEvent(
        event_id=f"swap:{after.id}:v{after.version}",
        ts_event=ts_event,
        ts_recv=now_ns(),
        swap_id=after.id,
        state_from=before.phase.value if before is not None else "",
        state_to=after.phase.value,
        chain=chain,
        tx_hash=tx_hash,
        block=block,
        chain_pair=after.chain_pair,
        gas_used=gas,
        batch_size=batch,
    )


class SwapStore:
    """Reads and compare-and-set writes of swap records (see the module docstring)."""

    def __init__(self, redis: Redis, outbox: Outbox, keys: Keys | None = None) -> None:
        self.redis = redis
        self.outbox = outbox
        self.keys = keys or Keys()

    # -- reads --------------------------------------------------------------

    async def get(self, swap_id: str) -> Swap:
        raw = await self.redis.get(self.keys.swap(swap_id))
        if raw is None:
            raise SwapNotFoundError("no such swap", swap_id=swap_id)
        return Swap.model_validate_json(raw)

    async def get_many(self, swap_ids: Sequence[str]) -> list[Swap | None]:
        if not swap_ids:
            return []
        raws = await self.redis.mget([self.keys.swap(i) for i in swap_ids])
        return [None if r is None else Swap.model_validate_json(r) for r in raws]

    async def active_and(self, swap_ids: Sequence[str]) -> tuple[list[str], list[Swap | None]]:
        """The active swap ids and the records of ``swap_ids``, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(self.keys.active)
            if swap_ids:
                pipe.mget([self.keys.swap(i) for i in swap_ids])
            results = await pipe.execute()
        ids = sorted(_decode(m) for m in results[0])
        raws = results[1] if swap_ids else []
        return ids, [None if r is None else Swap.model_validate_json(r) for r in raws]

    async def active_ids(self) -> list[str]:
        return sorted(_decode(m) for m in await self.redis.smembers(self.keys.active))

    async def list_swaps(self, phase: SwapPhase | None = None, limit: int = 100) -> list[Swap]:
        """Swaps in ``phase`` (all phases when None), newest first."""
        phases = [phase] if phase is not None else list(SwapPhase)
        ids: list[tuple[float, str]] = []
        for p in phases:
            members: list[Any] = await self.redis.zrevrange(
                self.keys.phase(p), 0, limit - 1, withscores=True
            )
            ids.extend((float(score), _decode(member)) for member, score in members)
        ids.sort(reverse=True)
        swaps = await self.get_many([i for _, i in ids[:limit]])
        return [s for s in swaps if s is not None]

    async def get_tx(self, chain_id: int, tx_hash: str) -> TxRecord | None:
        raw = await self.redis.get(self.keys.tx(chain_id, tx_hash))
        return None if raw is None else TxRecord.model_validate_json(raw)

    async def initialized(self) -> bool:
        """False when this Redis holds no settlement state (new, or lost)."""
        return bool(await self.redis.exists(self.keys.meta))

    async def mark_initialized(self) -> None:
        await self.redis.hset(self.keys.meta, "initialized", "1")

    # -- writes -------------------------------------------------------------

    async def create(
        self,
        swap: Swap,
        *,
        ts_event: int | None = None,
        plan: Sequence[QuotePath] | None = None,
    ) -> Swap:
        """Persist a new swap (with its quoted route, if given); :class:`ConflictError` if
        its id or hashlock is taken."""
        swap = swap.model_copy(update={"version": 1})
        key, hl_key = self.keys.swap(swap.id), self.keys.hashlock(swap.source.hashlock)
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(key, hl_key)
            if await pipe.exists(key, hl_key):
                raise ConflictError("a swap with this id or hashlock exists", swap_id=swap.id)
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(key, swap.model_dump_json())
            pipe.set(hl_key, swap.id)
            if plan is not None:
                pipe.set(
                    self.keys.plan(swap.id), json.dumps([p.model_dump(mode="json") for p in plan])
                )
            self._index(pipe, None, swap)
            pipe.hset(self.keys.meta, "initialized", "1")
            await self.outbox.append(pipe, swap_event(None, swap, ts_event or now_ns()))
            try:
                await pipe.execute()
            except WatchError as exc:
                raise ConflictError("a concurrent create", swap_id=swap.id) from exc
        return swap

    def _index(self, pipe: Pipeline, before: Swap | None, after: Swap) -> None:
        if before is not None and before.phase != after.phase:
            pipe.zrem(self.keys.phase(before.phase), after.id)
        pipe.zadd(self.keys.phase(after.phase), {after.id: after.created_ns})
        if after.terminal:
            pipe.srem(self.keys.active, after.id)
        else:
            pipe.sadd(self.keys.active, after.id)

    async def commit(
        self,
        transitions: Sequence[Transition],
        *,
        lease_token: str | None,
        tx: TxRecord | None = None,
        confirmed: Iterable[UnconfirmedTx] = (),
    ) -> list[Swap]:
        """Apply transitions atomically; optionally record a signed ``tx`` and its nonce.

        Raises :class:`StateConflictError` when a swap changed since it was read
        (or the nonce was taken) and :class:`LeaseLostError` when ``lease_token``
        no longer holds a swap's lease.
        """
        if not transitions:
            return []
        swap_keys = [self.keys.swap(t.before.id) for t in transitions]
        lease_keys = [self.keys.lease(t.before.id) for t in transitions]
        watched = [*swap_keys, *(lease_keys if lease_token is not None else [])]
        nonce_key = self.keys.nonce(tx.chain_id, tx.sender) if tx is not None else None
        if nonce_key is not None:
            watched.append(nonce_key)
        stamp = now_ns()
        afters = [
            t.after.model_copy(update={"version": t.before.version + 1, "updated_ns": stamp})
            for t in transitions
        ]
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(*watched)
            values = await pipe.mget(watched)  # one round trip for every check
            n = len(swap_keys)
            current, holders = values[:n], values[n : 2 * n] if lease_token is not None else []
            for t, raw in zip(transitions, current, strict=True):
                if raw is None:
                    raise SwapNotFoundError("no such swap", swap_id=t.before.id)
                found = json.loads(raw)["version"]  # only the version matters here
                if found != t.before.version:
                    raise StateConflictError(
                        "the swap changed since it was read",
                        swap_id=t.before.id,
                        expected=t.before.version,
                        found=found,
                    )
            for t, holder in zip(transitions, holders, strict=False):
                if holder is None or _decode(holder) != lease_token:
                    raise LeaseLostError("lease not held", swap_id=t.before.id)
            if tx is not None:
                next_nonce = values[-1]
                if next_nonce is None or int(next_nonce) != tx.nonce:
                    raise StateConflictError(
                        "nonce taken", chain_id=tx.chain_id, nonce=tx.nonce, found=next_nonce
                    )
            pipe.multi()  # type: ignore[no-untyped-call]
            for t, after in zip(transitions, afters, strict=True):
                pipe.set(self.keys.swap(after.id), after.model_dump_json())
                self._index(pipe, t.before, after)
                await self.outbox.append(pipe, swap_event(t.before, after, t.ts_event))
            if tx is not None and nonce_key is not None:
                pipe.set(self.keys.tx(tx.chain_id, tx.hash), tx.model_dump_json())
                pipe.set(nonce_key, tx.nonce + 1)
                pipe.zadd(self.keys.unconfirmed(tx.chain_id, tx.sender), {tx.hash: tx.nonce})
            for done in confirmed:
                pipe.zrem(self.keys.unconfirmed(done.chain_id, done.sender), done.hash)
            try:
                await pipe.execute()
            except WatchError as exc:
                raise StateConflictError(
                    "a swap, lease or nonce changed during the commit",
                    swap_ids=[t.before.id for t in transitions],
                ) from exc
        return afters

    async def confirm_tx(self, done: UnconfirmedTx) -> None:
        await self.redis.zrem(self.keys.unconfirmed(done.chain_id, done.sender), done.hash)

    async def claim_plan(self, swap_id: str) -> list[QuotePath]:
        """The route to execute, once only: a second call (a restart) gets nothing."""
        if not await self.redis.set(self.keys.legs_started(swap_id), "1", nx=True):
            return []
        raw = await self.redis.get(self.keys.plan(swap_id))
        if raw is None:
            return []
        return [QuotePath.model_validate(p) for p in json.loads(raw)]

    async def record_legs(self, swap_id: str, records: Sequence[LegRecord]) -> None:
        """Append executed legs and their audit events in one transaction."""
        if not records:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            for record in records:
                pipe.rpush(self.keys.legs(swap_id), record.model_dump_json())
                event = LegExecutionEvent.create(
                    swap_id=swap_id,
                    venue=record.venue,
                    location=record.location,
                    quoted_out=record.quoted_out,
                    executed_out=record.executed_out,
                    ts_event=record.ts_event,
                    ts_recv=record.ts_recv,
                    event_id=f"leg:{swap_id}:{record.path}:{record.leg}",
                )
                await self.outbox.append(pipe, event)
            await pipe.execute()

    async def legs(self, swap_id: str) -> list[LegRecord]:
        raws = await self.redis.lrange(self.keys.legs(swap_id), 0, -1)
        return [LegRecord.model_validate_json(r) for r in raws]

    async def put_rebuilt(self, swap: Swap) -> bool:
        """Store a swap rebuilt from chain events unless one with its id exists."""
        try:
            await self.create(swap)
        except ConflictError:
            return False
        return True
