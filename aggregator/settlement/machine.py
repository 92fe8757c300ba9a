"""The swap state machine: a pure function from (swap, observation) to (swap, actions).

No I/O happens here. The coordinator gathers an :class:`Observation` of both
chains for a swap (heads, the locks carrying its hashlock, lock states, a
revealed preimage, the receipt of its pending transaction), calls :func:`step`,
then persists the new swap and performs the actions, in that order.

A transaction is never an action's side effect alone: the new swap carries the
phase that says a transaction of that kind is due, the coordinator signs it and
records it as ``pending`` in the same commit, and only then broadcasts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from aggregator.settlement.swap import Note, Reason, Swap, SwapPhase, TxKind, TxRef
from aggregator.settlement.terms import HtlcState, HtlcTerms, hashlock_of, terms_differences

__all__ = [
    "Action",
    "ActionKind",
    "Decision",
    "LockSeen",
    "Observation",
    "Receipt",
    "SafetyPolicy",
    "needs_confirmed_state",
    "step",
    "time_left_check",
]


class SafetyPolicy(BaseModel):
    """When the resolver may lock on the destination, in seconds of chain time.

    Derived from the router's :class:`~aggregator.models.timelocks.TimelockPolicy`
    for a pair of chains (see :meth:`SettlementConfig.policy_for`).
    """

    model_config = ConfigDict(frozen=True)

    claim_allowance_s: int = Field(
        default=20,
        ge=0,
        description="What T_A - T_B must still cover when the resolver locks: its reaction, "
        "inclusion and confirmation on the source chain, clock skew and margin.",
    )
    destination_window_s: int = Field(
        default=30,
        ge=0,
        description="Least time left on T_B when the resolver locks: the trader's claim window "
        "plus inclusion and confirmation of the resolver's lock on the destination.",
    )
    source_confirmations: int = Field(
        default=1, ge=1, description="Blocks, counting the including one, before a lock is final."
    )


class LockSeen(BaseModel):
    """A ``Locked`` event carrying the swap's hashlock on its source chain."""

    model_config = ConfigDict(frozen=True)

    terms: HtlcTerms
    block: int
    tx_hash: str


class Receipt(BaseModel):
    """The receipt of the swap's pending transaction."""

    model_config = ConfigDict(frozen=True)

    status: int
    block: int
    gas_used: int


class Observation(BaseModel):
    """What the chains say about one swap, read at the heads given here."""

    model_config = ConfigDict(frozen=True)

    source_head: int
    source_time: int = Field(description="Timestamp of the source chain's head (s).")
    destination_head: int
    destination_time: int
    source_locks: tuple[LockSeen, ...] = Field(
        default=(), description="Canonical Locked events on the source chain with the hashlock."
    )
    source_state: HtlcState = Field(description="State of the watched source lock (from events).")
    source_state_confirmed: HtlcState | None = Field(
        default=None,
        description="stateOf(source id) read at the confirmed height, when requested.",
    )
    destination_state: HtlcState = HtlcState.NONE
    destination_preimage: str | None = Field(
        default=None, description="Preimage from a Claimed event of the destination lock."
    )
    receipt: Receipt | None = Field(default=None, description="Receipt of swap.pending.")
    pending_dropped: bool = Field(
        default=False,
        description="swap.pending can never be included: its nonce was used by another "
        "transaction and no node knows it.",
    )


class ActionKind(StrEnum):
    SEND_TX = "send_tx"
    """Sign, persist with the transition, broadcast: a transaction of ``tx_kind``."""
    REBROADCAST = "rebroadcast"
    """Send the persisted pending transaction again (same bytes, same hash)."""
    RELEASE_RESERVATION = "release_reservation"
    EXECUTE_LEGS = "execute_legs"


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    tx_kind: TxKind | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome of one step: ``swap`` is unchanged when nothing happened."""

    swap: Swap
    actions: tuple[Action, ...] = ()

    def changed(self, before: Swap) -> bool:
        return self.swap != before


def time_left_check(swap: Swap, obs: Observation, policy: SafetyPolicy) -> str | None:
    """Why locking on the destination now would be unsafe, or None when it is safe.

    ``left_a`` is the time left on the trader's lock by the source chain's head,
    ``left_b`` the trader's claim window by the destination chain's head; the
    difference is what the resolver has to claim on the source after the last
    possible claim on the destination.
    """
    if swap.destination is None:
        return "destination terms unknown"
    left_a = swap.source.timelock - obs.source_time
    left_b = swap.destination.timelock - obs.destination_time
    if left_b < policy.destination_window_s:
        return f"time left on T_B {left_b}s < {policy.destination_window_s}s"
    if left_a - left_b < policy.claim_allowance_s:
        return (
            f"time left on the source lock {left_a}s leaves {left_a - left_b}s after T_B, "
            f"below the required {policy.claim_allowance_s}s"
        )
    return None


def needs_confirmed_state(swap: Swap, obs: Observation, policy: SafetyPolicy) -> bool:
    """Whether :func:`step` wants ``source_state_confirmed`` (read stateOf at the head):
    the trader's lock has the confirmation depth and the destination lock is next."""
    if swap.pending is not None:
        return False
    block: int | None = None
    if swap.phase is SwapPhase.SOURCE_LOCKED:
        block = swap.source_lock_block
    elif swap.phase is SwapPhase.AWAITING_SOURCE_LOCK:
        expected = swap.source.id
        block = next((lock.block for lock in obs.source_locks if lock.terms.id == expected), None)
    return block is not None and obs.source_head >= block + policy.source_confirmations - 1


def _note(swap: Swap, reason: Reason, detail: str = "", code: str = "") -> tuple[Note, ...]:
    return (*swap.notes, Note(reason=reason, detail=detail, error_code=code, phase=swap.phase))


def _go(swap: Swap, phase: SwapPhase, **changes: object) -> Swap:
    return swap.model_copy(update={"phase": phase, **changes})


def _send(swap: Swap, phase: SwapPhase, kind: TxKind, **changes: object) -> Decision:
    return Decision(_go(swap, phase, **changes), (Action(ActionKind.SEND_TX, kind),))


def step(swap: Swap, obs: Observation, policy: SafetyPolicy) -> Decision:
    """One transition of ``swap`` given ``obs`` (possibly none)."""
    if swap.terminal:
        return Decision(swap)
    if swap.pending is not None:
        return _after_send(swap, swap.pending, obs, policy)
    handler = _HANDLERS.get(swap.phase)
    if handler is None:
        return Decision(swap)
    return handler(swap, obs, policy)


# ---------------------------------------------------------------------------
# a pending transaction


def _after_send(swap: Swap, pending: TxRef, obs: Observation, policy: SafetyPolicy) -> Decision:
    receipt = obs.receipt
    if receipt is None and obs.pending_dropped:
        notes = _note(swap, Reason.TX_DROPPED, f"{pending.kind.value} {pending.hash} dropped")
        cleared = swap.model_copy(update={"pending": None, "notes": notes})
        return _HANDLERS[swap.phase](cleared, obs, policy)
    if receipt is None:
        return Decision(swap, (Action(ActionKind.REBROADCAST),))
    done = pending.model_copy(
        update={"block": receipt.block, "status": receipt.status, "gas_used": receipt.gas_used}
    )
    base = swap.model_copy(update={"pending": None, "txs": (*swap.txs, done)})
    if receipt.status == 1:
        return _on_success(base, pending.kind)
    return _on_revert(base, pending.kind, pending.batch_size, obs)


def _on_success(swap: Swap, kind: TxKind) -> Decision:
    if kind is TxKind.DESTINATION_LOCK:
        return Decision(
            _go(swap, SwapPhase.DESTINATION_LOCKED),
            (Action(ActionKind.RELEASE_RESERVATION), Action(ActionKind.EXECUTE_LEGS)),
        )
    if kind is TxKind.SOURCE_CLAIM:
        return Decision(_go(swap, SwapPhase.COMPLETED))
    if kind is TxKind.DESTINATION_REFUND:
        return Decision(_go(swap, SwapPhase.AWAITING_SOURCE_REFUND))
    return Decision(_go(swap, SwapPhase.REFUNDED))


def _on_revert(swap: Swap, kind: TxKind, batch_size: int, obs: Observation) -> Decision:
    if kind is TxKind.DESTINATION_LOCK:
        if batch_size > 1:
            # One bad lock sinks a whole batch: try again alone before giving up.
            notes = _note(swap, Reason.DESTINATION_LOCK_REVERTED, "batch reverted; retry alone")
            return Decision(_go(swap, SwapPhase.SOURCE_LOCKED, notes=notes, lock_alone=True))
        notes = _note(swap, Reason.DESTINATION_LOCK_REVERTED, "the destination lock reverted")
        return Decision(
            _go(swap, SwapPhase.AWAITING_SOURCE_REFUND, notes=notes),
            (Action(ActionKind.RELEASE_RESERVATION),),
        )
    notes = _note(swap, Reason.TX_REVERTED, f"{kind.value} reverted; re-reading the chains")
    swap = swap.model_copy(update={"notes": notes})
    # Re-decide from what the chains say: someone else may have settled that side.
    if kind is TxKind.SOURCE_CLAIM:
        return _source_claiming(swap, obs, None)
    if kind is TxKind.DESTINATION_REFUND:
        return _destination_refunding(swap, obs)
    return _awaiting_source_refund(swap, obs, None)


# ---------------------------------------------------------------------------
# phases without a pending transaction


def _awaiting_source_lock(swap: Swap, obs: Observation, policy: SafetyPolicy) -> Decision:
    expected = swap.source.id
    for lock in obs.source_locks:
        if lock.terms.id == expected:
            # Already final? Then straight on to the destination lock, in one transition.
            locked = _go(
                swap, SwapPhase.SOURCE_LOCKED, source_lock=lock.terms, source_lock_block=lock.block
            )
            return _source_locked(locked, obs, policy)
    for lock in obs.source_locks:
        if lock.terms.sender != swap.source.recipient:  # not the resolver's own lock
            diffs = terms_differences(swap.source, lock.terms)
            notes = _note(swap, Reason.TERMS_MISMATCH, "; ".join(diffs), "terms_mismatch")
            return Decision(
                _go(
                    swap,
                    SwapPhase.AWAITING_SOURCE_REFUND,
                    source_lock=lock.terms,
                    source_lock_block=lock.block,
                    notes=notes,
                ),
                (Action(ActionKind.RELEASE_RESERVATION),),
            )
    if obs.source_time >= swap.lock_deadline:
        notes = _note(swap, Reason.LOCK_DEADLINE_PASSED, "the trader did not lock in time")
        return Decision(
            _go(swap, SwapPhase.EXPIRED, notes=notes), (Action(ActionKind.RELEASE_RESERVATION),)
        )
    return Decision(swap)


def _reorged(swap: Swap, detail: str) -> Decision:
    notes = _note(swap, Reason.SOURCE_LOCK_REORGED, detail)
    return Decision(
        _go(
            swap,
            SwapPhase.AWAITING_SOURCE_LOCK,
            source_lock=None,
            source_lock_block=None,
            notes=notes,
        )
    )


def _source_locked(swap: Swap, obs: Observation, policy: SafetyPolicy) -> Decision:
    expected = swap.source.id
    seen = [lock for lock in obs.source_locks if lock.terms.id == expected]
    if not seen:
        return _reorged(swap, "the trader's lock is no longer on the canonical chain")
    block = seen[0].block
    if block != swap.source_lock_block:
        swap = swap.model_copy(update={"source_lock_block": block})
    if not needs_confirmed_state(swap, obs, policy) or obs.source_state_confirmed is None:
        return Decision(swap)
    confirmed = obs.source_state_confirmed
    if confirmed is HtlcState.NONE:
        return _reorged(swap, "stateOf at the confirmed height shows no lock")
    if confirmed is not HtlcState.LOCKED:
        return _awaiting_source_refund(swap, obs, None)
    unsafe = time_left_check(swap, obs, policy)
    if unsafe is not None:
        notes = _note(swap, Reason.TIMELOCK_UNSAFE, unsafe, "timelock_unsafe")
        return Decision(
            _go(swap, SwapPhase.AWAITING_SOURCE_REFUND, notes=notes),
            (Action(ActionKind.RELEASE_RESERVATION),),
        )
    return _send(swap, SwapPhase.DESTINATION_LOCKING, TxKind.DESTINATION_LOCK)


def _claim_from(swap: Swap, obs: Observation) -> Decision | None:
    preimage = obs.destination_preimage
    if preimage is None or hashlock_of(preimage) != swap.source.hashlock:
        return None
    swap = swap.model_copy(update={"preimage": preimage})
    return _source_claiming(swap, obs, None)


def _destination_locked(swap: Swap, obs: Observation, policy: SafetyPolicy) -> Decision:
    claim = _claim_from(swap, obs)
    if claim is not None:
        return claim
    if obs.destination_state is HtlcState.REFUNDED:
        notes = _note(swap, Reason.DESTINATION_REFUNDED_BY_OTHER, "destination lock refunded")
        return Decision(_go(swap, SwapPhase.AWAITING_SOURCE_REFUND, notes=notes))
    assert swap.destination is not None
    if obs.destination_time >= swap.destination.timelock:
        notes = _note(swap, Reason.NOT_CLAIMED_IN_TIME, "the trader did not claim before T_B")
        return _destination_refunding(swap.model_copy(update={"notes": notes}), obs)
    return Decision(swap)


def _source_claiming(swap: Swap, obs: Observation, _policy: SafetyPolicy | None) -> Decision:
    if obs.source_state is HtlcState.CLAIMED:
        return Decision(_go(swap, SwapPhase.COMPLETED))
    if obs.source_state is not HtlcState.LOCKED or obs.source_time >= swap.source.timelock:
        notes = _note(swap, Reason.CLAIM_TOO_LATE, "the source lock can no longer be claimed")
        return Decision(_go(swap, SwapPhase.FAILED, notes=notes))
    return _send(swap, SwapPhase.SOURCE_CLAIMING, TxKind.SOURCE_CLAIM)


def _destination_refunding(swap: Swap, obs: Observation) -> Decision:
    claim = _claim_from(swap, obs)
    if claim is not None:
        return claim
    if obs.destination_state is HtlcState.REFUNDED:
        return Decision(_go(swap, SwapPhase.AWAITING_SOURCE_REFUND))
    if obs.destination_state is HtlcState.NONE:  # the lock left the chain: nothing to refund
        notes = _note(swap, Reason.TX_REVERTED, "the destination lock is not on the chain")
        return Decision(_go(swap, SwapPhase.AWAITING_SOURCE_REFUND, notes=notes))
    return _send(swap, SwapPhase.DESTINATION_REFUNDING, TxKind.DESTINATION_REFUND)


def _awaiting_source_refund(swap: Swap, obs: Observation, _policy: SafetyPolicy | None) -> Decision:
    lock = swap.source_lock
    if obs.source_state is HtlcState.REFUNDED:
        return Decision(_go(swap, SwapPhase.REFUNDED))
    if obs.source_state is HtlcState.CLAIMED:
        return Decision(_go(swap, SwapPhase.COMPLETED))
    if lock is None or obs.source_state is HtlcState.NONE:
        if obs.source_time >= swap.source.timelock:
            return Decision(_go(swap, SwapPhase.EXPIRED))
        return Decision(swap)
    if obs.source_time >= lock.timelock:
        return _send(swap, SwapPhase.SOURCE_REFUNDING, TxKind.SOURCE_REFUND)
    return Decision(swap)


def _destination_locking(swap: Swap, obs: Observation, policy: SafetyPolicy) -> Decision:
    # Only reached without a pending transaction: decide again from the chains.
    if obs.destination_state is not HtlcState.NONE:
        return _destination_locked(_go(swap, SwapPhase.DESTINATION_LOCKED), obs, policy)
    return Decision(_go(swap, SwapPhase.SOURCE_LOCKED))


_Handler = Callable[[Swap, Observation, SafetyPolicy], Decision]

_HANDLERS: dict[SwapPhase, _Handler] = {
    SwapPhase.AWAITING_SOURCE_LOCK: _awaiting_source_lock,
    SwapPhase.SOURCE_LOCKED: _source_locked,
    SwapPhase.DESTINATION_LOCKING: _destination_locking,
    SwapPhase.DESTINATION_LOCKED: _destination_locked,
    SwapPhase.SOURCE_CLAIMING: _source_claiming,
    SwapPhase.DESTINATION_REFUNDING: lambda swap, obs, _policy: _destination_refunding(swap, obs),
    SwapPhase.AWAITING_SOURCE_REFUND: _awaiting_source_refund,
    SwapPhase.SOURCE_REFUNDING: _awaiting_source_refund,
}
