"""The resolver's coordinator: drives every swap it holds a lease on, one tick at a time.

A tick polls each chain's HTLC events, takes the leases of unowned active
swaps, builds each swap's :class:`Observation`, runs the pure state machine,
and acts: transitions are committed (with their outbox events); a transaction
is signed, committed with the transition that makes it due (exact bytes and
nonce on record), and only then broadcast (:mod:`aggregator.settlement.sending`).
Destination locks due in the same tick on one chain go out as one
``lockBatch``.

On start, and whenever Redis turns out to have lost its state, swaps are
rebuilt from chain events and each account's nonce is reconciled with its
chain (persisted transactions not yet included are sent again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from eth_account.signers.local import LocalAccount
from redis.asyncio import Redis
from redis.exceptions import RedisError

from aggregator.errors import AggregatorError, ConfigError, LeaseLostError, StateConflictError
from aggregator.journal.config import JournalConfig
from aggregator.journal.outbox import Outbox
from aggregator.settlement.chain import ChainClient, RpcCounter, new_session
from aggregator.settlement.config import SettlementConfig
from aggregator.settlement.crash import CrashPoints
from aggregator.settlement.keys import Keys
from aggregator.settlement.leases import LeaseManager
from aggregator.settlement.legs import LegExecutor
from aggregator.settlement.machine import (
    ActionKind,
    Decision,
    LockSeen,
    Observation,
    Receipt,
    SafetyPolicy,
    needs_confirmed_state,
    step,
)
from aggregator.settlement.nonces import NonceManager
from aggregator.settlement.recovery import rebuild_from_chains
from aggregator.settlement.sending import Sender
from aggregator.settlement.store import SwapStore, Transition, TxRecord, UnconfirmedTx
from aggregator.settlement.swap import Swap, TxKind
from aggregator.settlement.terms import HtlcState
from aggregator.settlement.watcher import HtlcWatcher

__all__ = ["Coordinator", "Releaser"]

log = logging.getLogger(__name__)

_MAX_CHAIN = 4
"""Transitions one swap may make in one tick (each persisted with its own event)."""
_STATE_CHECK_S = 0.25
"""How often a tick checks that Redis still holds the settlement state."""

Releaser = Callable[[str], Awaitable[None]]
"""Releases the inventory reserved behind a quote (by quote id)."""


class Coordinator:
    """Drives swaps to completion or refund (see the module docstring)."""

    def __init__(
        self,
        config: SettlementConfig,
        redis: Redis,
        account: LocalAccount,
        *,
        outbox: Outbox | None = None,
        legs: LegExecutor | None = None,
        release_reservation: Releaser | None = None,
        crash: CrashPoints | None = None,
        counter: RpcCounter | None = None,
        nonces: NonceManager | None = None,
    ) -> None:
        """``nonces``: the process's nonce authority, when other senders of the resolver's
        accounts (connectors executing trade legs) share it; its keys must be the
        settlement's."""
        self.config = config
        self.redis = redis
        self.account = account
        self.keys = Keys(config.key_prefix)
        self.outbox = outbox or Outbox(JournalConfig())
        self.store = SwapStore(redis, self.outbox, self.keys)
        if nonces is not None and nonces.keys != self.keys:
            raise ConfigError(
                "the nonce manager's keys differ from the settlement's",
                expected=self.keys.prefix,
                found=nonces.keys.prefix,
            )
        self.nonces = nonces or NonceManager(redis, self.keys)
        self.leases = LeaseManager(redis, config.lease_ttl_ms, self.keys)
        self.legs = legs
        self.release_reservation = release_reservation
        self.crash = crash or CrashPoints()
        self.counter = counter or RpcCounter()
        self.clients: dict[str, ChainClient] = {}
        self.watchers: dict[str, HtlcWatcher] = {}
        self.sender: Sender | None = None
        self._session = new_session()
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_renew = 0.0
        self._policies: dict[tuple[str, str | None], SafetyPolicy] = {}
        self._suspects: dict[str, float] = {}
        self._last_state_check = 0.0
        for chain in config.chains:
            client = ChainClient(
                chain.key,
                chain.chain_id,
                chain.rpc_url,
                self._session,
                self.counter,
                tip_wei=config.tip_wei,
            )
            self.clients[chain.key] = client
            self.watchers[chain.key] = HtlcWatcher(client, chain.htlc, chain.start_block)

    @property
    def address(self) -> str:
        return str(self.account.address)

    def policy(self, swap: Swap) -> SafetyPolicy:
        """The lock-time safety policy for the swap's pair of chains (cached)."""
        dest = swap.destination.chain if swap.destination is not None else None
        key = (swap.source.chain, dest)
        policy = self._policies.get(key)
        if policy is None:
            policy = self._policies[key] = self.config.policy_for(*key)
        return policy

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Index the chains, restore or rebuild state, reconcile nonces, ensure approvals."""
        await asyncio.gather(*(w.poll() for w in self.watchers.values()))
        self.sender = Sender(self)
        await self._ensure_state(force=True)
        await self.sender.ensure_approvals()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._session.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; transient Redis and RPC failures are retried."""
        backoff = self.config.poll_interval_s
        while not stop.is_set():
            try:
                await self.tick()
                backoff = self.config.poll_interval_s
            except asyncio.CancelledError:
                raise
            except (RedisError, AggregatorError, OSError) as exc:
                log.warning("tick failed: %s: %s", type(exc).__name__, exc)
                self._last_state_check = 0.0  # Redis may be back empty: check first
                backoff = min(1.0, backoff * 2 + 0.05)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)
        await self.drain()

    async def drain(self) -> None:
        """Wait for the transactions in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _ensure_state(self, *, force: bool = False) -> None:
        if not await self.store.initialized():
            rebuilt = await rebuild_from_chains(self.watchers, self.store, self.address)
            log.warning("settlement state rebuilt from chain events: %d swaps", len(rebuilt))
            self.leases.held.clear()
            force = True
        if force:
            assert self.sender is not None
            await self.sender.reconcile_nonces()

    # -- one tick -----------------------------------------------------------

    async def tick(self) -> None:
        await asyncio.gather(*(w.poll() for w in self.watchers.values()))
        now = time.monotonic()
        if now - self._last_state_check > _STATE_CHECK_S:
            self._last_state_check = now
            await self._ensure_state()
        known = sorted(i for i in self.leases.held if i not in self._in_flight)
        ids, records = await self.store.active_and(known)
        now = time.monotonic()
        if now - self._last_renew > self.config.lease_ttl_ms / 3000:
            lost = set(await self.leases.renew())
            records = [r for r in records if r is None or r.id not in lost]
            self._last_renew = now
        active = set(ids)
        for gone in [i for i in self.leases.held if i not in active and i not in self._in_flight]:
            await self.leases.release(gone)
        swaps = [r for r in records if r is not None and r.id in active]
        fresh = [i for i in ids if i not in self.leases.held and i not in self._in_flight]
        if fresh:
            taken = await self.leases.acquire_many(fresh)
            swaps += [s for s in await self.store.get_many(taken) if s is not None]
        decisions = await self.decide([s for s in swaps if s.id not in self._in_flight])
        await self.act(decisions)

    def observe(self, swap: Swap, receipt: Receipt | None = None) -> Observation:
        src = self.watchers[swap.source.chain]
        dest_terms = swap.destination
        dst = self.watchers[dest_terms.chain] if dest_terms is not None else src
        assert src.head is not None and dst.head is not None
        locks = tuple(
            LockSeen(terms=lock.terms, block=lock.block, tx_hash=lock.tx_hash)
            for lock in src.locks_with_hashlock(swap.source.hashlock)
            if lock.terms.htlc == swap.source.htlc
        )
        return Observation(
            source_head=src.head.number,
            source_time=src.head.timestamp,
            destination_head=dst.head.number,
            destination_time=dst.head.timestamp,
            source_locks=locks,
            source_state=src.state(swap.watched_source.id),
            destination_state=(
                dst.state(dest_terms.id) if dest_terms is not None else HtlcState.NONE
            ),
            destination_preimage=dst.preimage(dest_terms.id) if dest_terms is not None else None,
            receipt=receipt,
        )

    async def decide(self, swaps: Sequence[Swap]) -> list[tuple[Swap, Decision]]:
        observations = {s.id: self.observe(s) for s in swaps}
        # receipts of pending transactions, one request per chain
        by_chain: dict[str, list[Swap]] = {}
        for swap in swaps:
            if swap.pending is not None:
                by_chain.setdefault(swap.pending.chain, []).append(swap)
        for chain, group in by_chain.items():
            client = self.clients[chain]
            hashes = [s.pending.hash for s in group if s.pending is not None]
            included, receipts = await client.nonce_and_receipts(self.address, hashes)
            for swap, receipt in zip(group, receipts, strict=True):
                pending = swap.pending
                assert pending is not None
                obs = observations[swap.id]
                if receipt is not None:
                    share = receipt.gas_used // pending.batch_size
                    own = receipt.model_copy(update={"gas_used": share})
                    observations[swap.id] = obs.model_copy(update={"receipt": own})
                elif included > pending.nonce and await self._dropped(client, pending.hash):
                    observations[swap.id] = obs.model_copy(update={"pending_dropped": True})
        # stateOf at the confirmed height before any destination lock
        confirm: dict[str, list[Swap]] = {}
        for swap in swaps:
            policy = self.policy(swap)
            if needs_confirmed_state(swap, observations[swap.id], policy):
                confirm.setdefault(swap.source.chain, []).append(swap)
        for chain, group in confirm.items():
            watcher = self.watchers[chain]
            assert watcher.head is not None
            states = await self.clients[chain].states(
                watcher.htlc, [s.source.id for s in group], watcher.head.number
            )
            for swap, state in zip(group, states, strict=True):
                obs = observations[swap.id]
                observations[swap.id] = obs.model_copy(update={"source_state_confirmed": state})
        return [(s, step(s, observations[s.id], self.policy(s))) for s in swaps]

    async def _dropped(self, client: ChainClient, tx_hash: str) -> bool:
        """True once a transaction whose nonce is used elsewhere stayed unknown for a while."""
        if await client.transaction_known(tx_hash):
            self._suspects.pop(tx_hash, None)
            return False
        first = self._suspects.setdefault(tx_hash, time.monotonic())
        return time.monotonic() - first >= self.config.rebroadcast_after_s

    async def act(self, decisions: Sequence[tuple[Swap, Decision]]) -> None:
        """Commit transitions, then decide those swaps again at once (a transition can
        make a transaction due: no need to wait a tick), and send what is due."""
        assert self.sender is not None
        batches: dict[str, list[tuple[Swap, Decision]]] = {}
        groups: list[list[tuple[Swap, Decision]]] = []
        for _ in range(_MAX_CHAIN):
            plain: list[tuple[Swap, Decision]] = []
            for before, decision in decisions:
                send = next((a for a in decision.actions if a.kind is ActionKind.SEND_TX), None)
                if send is not None and send.tx_kind is not None:
                    swap = decision.swap
                    if send.tx_kind is TxKind.DESTINATION_LOCK and not swap.lock_alone:
                        assert swap.destination is not None
                        batches.setdefault(swap.destination.chain, []).append((before, decision))
                    else:
                        groups.append([(before, decision)])
                elif decision.changed(before):
                    plain.append((before, decision))
                elif any(a.kind is ActionKind.REBROADCAST for a in decision.actions):
                    await self.sender.rebroadcast(before)
            committed: list[Swap] = []
            for before, decision in plain:
                confirmed = []
                if before.pending is not None and decision.swap.pending is None:
                    chain_id = self.clients[before.pending.chain].chain_id
                    confirmed.append(UnconfirmedTx(chain_id, self.address, before.pending.hash))
                try:
                    committed += await self.commit([(before, decision)], confirmed=confirmed)
                except (StateConflictError, LeaseLostError) as exc:
                    log.info("swap %s moved elsewhere: %s", before.id, exc.message)
            live = [s for s in committed if not s.terminal]
            if not live:
                break
            decisions = await self.decide(live)
        for items in batches.values():
            size = self.config.max_batch
            groups += [items[i : i + size] for i in range(0, len(items), size)]
        for group in groups:
            self._spawn(group)

    def _spawn(self, group: list[tuple[Swap, Decision]]) -> None:
        assert self.sender is not None
        ids = [before.id for before, _ in group]
        self._in_flight.update(ids)

        async def run() -> None:
            try:
                assert self.sender is not None
                await self.sender.send_group(group)
            except asyncio.CancelledError:
                raise
            except (AggregatorError, RedisError, OSError) as exc:
                log.warning("sending for %s failed: %s: %s", ids, type(exc).__name__, exc)
            finally:
                self._in_flight.difference_update(ids)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def commit(
        self,
        items: Sequence[tuple[Swap, Decision]],
        *,
        tx: TxRecord | None = None,
        confirmed: Sequence[UnconfirmedTx] = (),
    ) -> list[Swap]:
        """Commit decisions under this instance's leases, then run their side actions."""
        transitions = [Transition(before, d.swap) for before, d in items]
        afters = await self.store.commit(
            transitions, lease_token=self.leases.token, tx=tx, confirmed=confirmed
        )
        for after in afters:
            self.crash.check(after.phase.value, "after_persist")
        for after, (_, decision) in zip(afters, items, strict=True):
            await self._side_effects(after, decision)
        return afters

    async def _side_effects(self, swap: Swap, decision: Decision) -> None:
        for action in decision.actions:
            if action.kind is ActionKind.RELEASE_RESERVATION and swap.quote_id is not None:
                if self.release_reservation is not None:
                    await self.release_reservation(swap.quote_id)
            elif action.kind is ActionKind.EXECUTE_LEGS and self.legs is not None:
                task = asyncio.create_task(self._run_legs(self.legs, swap))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _run_legs(self, executor: LegExecutor, swap: Swap) -> None:
        """Restore inventory along the quoted route; recorded, never part of settlement."""
        try:
            paths = await self.store.claim_plan(swap.id)
            if paths:
                records = await executor.run(swap.id, paths)
                await self.store.record_legs(swap.id, records)
        except asyncio.CancelledError:
            raise
        except (AggregatorError, RedisError, OSError) as exc:
            log.warning("trade legs of %s not recorded: %s", swap.id, exc)
