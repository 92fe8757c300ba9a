"""Rebuilding swap records from chain events after Redis lost them.

The chains carry what settlement needs: a trader's lock addressed to the
resolver holds the source terms and the hashlock; the resolver's own lock with
that hashlock (on any chain) holds the destination terms; a ``Claimed`` event
holds the preimage. Each trader lock becomes a swap keyed, as before, by its
lock id, in the phase the chain shows, and the state machine takes it from
there: a delivered swap is claimed on the source, an expired one refunded.

A trader lock without a resolver lock cannot be delivered after a loss (the
quote that said what to deliver is gone), so it waits for T_A and is refunded
to the trader: the promise holds either way.
"""

from __future__ import annotations

from collections.abc import Mapping

from aggregator.models.units import now_ns
from aggregator.settlement.store import SwapStore
from aggregator.settlement.swap import Note, Reason, Swap, SwapPhase
from aggregator.settlement.terms import HtlcState
from aggregator.settlement.watcher import HtlcWatcher, IndexedLock

__all__ = ["rebuild_from_chains", "rebuilt_swaps"]

_FINAL = (HtlcState.CLAIMED, HtlcState.REFUNDED)


def rebuilt_swaps(watchers: Mapping[str, HtlcWatcher], resolver: str) -> list[Swap]:
    """Swaps implied by the indexed events of every chain (pure over the indexes)."""
    resolver_locks: dict[str, list[tuple[IndexedLock, HtlcWatcher]]] = {}
    trader_locks: list[tuple[IndexedLock, HtlcWatcher]] = []
    for watcher in watchers.values():
        for lock in watcher.all_locks():
            if lock.terms.sender == resolver:
                resolver_locks.setdefault(lock.terms.hashlock, []).append((lock, watcher))
            elif lock.terms.recipient == resolver:
                trader_locks.append((lock, watcher))
    stamp = now_ns()
    swaps: list[Swap] = []
    for lock, watcher in trader_locks:
        source = lock.terms
        source_state = watcher.state(source.id)
        delivered = [
            (d, w)
            for d, w in resolver_locks.get(source.hashlock, [])
            if (d.terms.chain_id, d.terms.id) != (source.chain_id, source.id)
        ]
        destination = delivered[0][0].terms if delivered else None
        dest_state = delivered[0][1].state(destination.id) if destination is not None else None
        if source_state in _FINAL and (dest_state is None or dest_state in _FINAL):
            continue  # settled on both sides: nothing left to drive
        notes: tuple[Note, ...] = ()
        if destination is None:
            phase = SwapPhase.AWAITING_SOURCE_REFUND
            notes = (
                Note(
                    reason=Reason.STATE_LOST,
                    detail="rebuilt from chain events without a destination lock",
                    phase=phase,
                ),
            )
        else:
            phase = SwapPhase.DESTINATION_LOCKED
        swaps.append(
            Swap(
                id=source.id,
                version=1,
                phase=phase,
                source=source,
                destination=destination,
                lock_deadline=source.timelock,
                source_lock=source,
                source_lock_block=lock.block,
                notes=notes,
                created_ns=stamp,
                updated_ns=stamp,
            )
        )
    return swaps


async def rebuild_from_chains(
    watchers: Mapping[str, HtlcWatcher], store: SwapStore, resolver: str
) -> list[Swap]:
    """Store every swap implied by chain events that Redis does not hold; returns them."""
    stored: list[Swap] = []
    for swap in rebuilt_swaps(watchers, resolver):
        if await store.put_rebuilt(swap):
            stored.append(swap)
    await store.mark_initialized()
    return stored
