"""The pure swap state machine: every transition from observations alone."""

from __future__ import annotations

from typing import Any

from aggregator.settlement.machine import (
    ActionKind,
    LockSeen,
    Receipt,
    SafetyPolicy,
    needs_confirmed_state,
    step,
)
from aggregator.settlement.swap import Reason, SwapPhase, TxKind, TxRef
from aggregator.settlement.terms import HtlcState
from tests.settlement.factories import make_swap, new_secret, observe, source_terms

POLICY = SafetyPolicy(claim_allowance_s=19, destination_window_s=10, source_confirmations=2)


def _locked(hashlock: str, block: int = 100, **changes: Any) -> LockSeen:
    return LockSeen(terms=source_terms(hashlock, **changes), block=block, tx_hash="0x01")


def _pending(kind: TxKind, batch_size: int = 1) -> TxRef:
    return TxRef(kind=kind, chain="beta", hash="0x" + "ab" * 32, nonce=7, batch_size=batch_size)


def test_a_lock_with_the_agreed_terms_moves_the_swap_to_source_locked() -> None:
    _, hashlock = new_secret()
    swap = make_swap(hashlock)
    decision = step(swap, observe(source_locks=(_locked(hashlock, block=99),)), POLICY)
    assert decision.swap.phase is SwapPhase.SOURCE_LOCKED
    assert decision.swap.source_lock_block == 99
    assert decision.actions == ()


def test_each_wrong_term_is_rejected_with_the_term_named() -> None:
    _, hashlock = new_secret()
    wrong: dict[str, Any] = {
        "amount": 999_999_999,
        "recipient": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "timelock": 10_599,
        "token": "0x0000000000000000000000000000000000000000",
    }
    for name, value in wrong.items():
        swap = make_swap(hashlock)
        decision = step(swap, observe(source_locks=(_locked(hashlock, **{name: value}),)), POLICY)
        assert decision.swap.phase is SwapPhase.AWAITING_SOURCE_REFUND, name
        note = decision.swap.reason
        assert note is not None and note.reason is Reason.TERMS_MISMATCH
        assert note.error_code == "terms_mismatch"
        assert note.detail.startswith(f"{name}: expected"), note.detail
        assert all(a.kind is not ActionKind.SEND_TX for a in decision.actions)
        assert decision.swap.source_lock is not None
        assert decision.swap.source_lock.id != swap.source.id


def test_no_lock_before_the_deadline_expires_the_swap_and_releases_inventory() -> None:
    _, hashlock = new_secret()
    swap = make_swap(hashlock)
    assert step(swap, observe(source_time=10_059), POLICY).swap == swap
    decision = step(swap, observe(source_time=10_060), POLICY)
    assert decision.swap.phase is SwapPhase.EXPIRED
    assert [a.kind for a in decision.actions] == [ActionKind.RELEASE_RESERVATION]


def test_destination_lock_waits_for_the_confirmation_depth_and_a_confirmed_state() -> None:
    _, hashlock = new_secret()
    swap = make_swap(hashlock, phase=SwapPhase.SOURCE_LOCKED, source_lock_block=100)
    locks = (_locked(hashlock, block=100),)
    # depth 2: the including block plus one
    shallow = observe(source_head=100, source_locks=locks, source_state=HtlcState.LOCKED)
    assert not needs_confirmed_state(swap, shallow, POLICY)
    assert step(swap, shallow, POLICY).swap == swap
    deep = observe(source_head=101, source_locks=locks, source_state=HtlcState.LOCKED)
    assert needs_confirmed_state(swap, deep, POLICY)
    assert step(swap, deep, POLICY).swap == swap  # no confirmed state read yet
    ready = deep.model_copy(update={"source_state_confirmed": HtlcState.LOCKED})
    decision = step(swap, ready, POLICY)
    assert decision.swap.phase is SwapPhase.DESTINATION_LOCKING
    assert [(a.kind, a.tx_kind) for a in decision.actions] == [
        (ActionKind.SEND_TX, TxKind.DESTINATION_LOCK)
    ]


def test_a_reorged_source_lock_never_gets_a_destination_lock() -> None:
    _, hashlock = new_secret()
    swap = make_swap(hashlock, phase=SwapPhase.SOURCE_LOCKED, source_lock_block=100)
    gone = step(swap, observe(source_head=103), POLICY)
    assert gone.swap.phase is SwapPhase.AWAITING_SOURCE_LOCK
    assert gone.swap.reason is not None and gone.swap.reason.reason is Reason.SOURCE_LOCK_REORGED
    # the event is still indexed but stateOf at the confirmed height says no lock
    stale = observe(
        source_head=103,
        source_locks=(_locked(hashlock, block=100),),
        source_state_confirmed=HtlcState.NONE,
    )
    decision = step(swap, stale, POLICY)
    assert decision.swap.phase is SwapPhase.AWAITING_SOURCE_LOCK
    assert decision.actions == ()


def test_too_little_time_left_on_the_source_lock_refuses_the_destination_lock() -> None:
    _, hashlock = new_secret()
    swap = make_swap(hashlock, phase=SwapPhase.SOURCE_LOCKED, source_lock_block=100)
    locks = (_locked(hashlock, block=100),)
    # T_A - now_A = 600 - x must exceed (T_B - now_B = 300) + 19
    ok = observe(
        source_head=101,
        source_time=10_281,
        source_locks=locks,
        source_state_confirmed=HtlcState.LOCKED,
    )
    assert step(swap, ok, POLICY).swap.phase is SwapPhase.DESTINATION_LOCKING
    unsafe = ok.model_copy(update={"source_time": 10_282})
    decision = step(swap, unsafe, POLICY)
    assert decision.swap.phase is SwapPhase.AWAITING_SOURCE_REFUND
    note = decision.swap.reason
    assert note is not None and note.reason is Reason.TIMELOCK_UNSAFE
    assert note.error_code == "timelock_unsafe"
    assert [a.kind for a in decision.actions] == [ActionKind.RELEASE_RESERVATION]
    # the trader's claim window on the destination is too short as well
    short = ok.model_copy(update={"destination_time": 20_291})
    assert step(swap, short, POLICY).swap.phase is SwapPhase.AWAITING_SOURCE_REFUND


def test_pending_transaction_without_receipt_is_rebroadcast_not_resigned() -> None:
    _, hashlock = new_secret()
    swap = make_swap(
        hashlock, phase=SwapPhase.DESTINATION_LOCKING, pending=_pending(TxKind.DESTINATION_LOCK)
    )
    decision = step(swap, observe(), POLICY)
    assert decision.swap == swap
    assert [a.kind for a in decision.actions] == [ActionKind.REBROADCAST]


def test_receipts_advance_each_transaction_kind() -> None:
    _, hashlock = new_secret()
    receipt = Receipt(status=1, block=501, gas_used=90_000)
    cases = {
        (SwapPhase.DESTINATION_LOCKING, TxKind.DESTINATION_LOCK): SwapPhase.DESTINATION_LOCKED,
        (SwapPhase.SOURCE_CLAIMING, TxKind.SOURCE_CLAIM): SwapPhase.COMPLETED,
        (SwapPhase.DESTINATION_REFUNDING, TxKind.DESTINATION_REFUND): (
            SwapPhase.AWAITING_SOURCE_REFUND
        ),
        (SwapPhase.SOURCE_REFUNDING, TxKind.SOURCE_REFUND): SwapPhase.REFUNDED,
    }
    for (phase, kind), expected in cases.items():
        swap = make_swap(hashlock, phase=phase, pending=_pending(kind))
        decision = step(swap, observe(receipt=receipt), POLICY)
        assert decision.swap.phase is expected
        assert decision.swap.pending is None
        assert decision.swap.txs[-1].block == 501 and decision.swap.txs[-1].status == 1


def test_a_destination_lock_revert_refunds_the_trader_but_a_batch_revert_retries_alone() -> None:
    _, hashlock = new_secret()
    reverted = observe(receipt=Receipt(status=0, block=501, gas_used=50_000))
    alone = make_swap(
        hashlock, phase=SwapPhase.DESTINATION_LOCKING, pending=_pending(TxKind.DESTINATION_LOCK)
    )
    assert step(alone, reverted, POLICY).swap.phase is SwapPhase.AWAITING_SOURCE_REFUND
    batched = alone.model_copy(update={"pending": _pending(TxKind.DESTINATION_LOCK, 3)})
    retry = step(batched, reverted, POLICY).swap
    assert retry.phase is SwapPhase.SOURCE_LOCKED and retry.lock_alone


def test_a_revealed_preimage_is_kept_and_claimed_on_the_source() -> None:
    preimage, hashlock = new_secret()
    swap = make_swap(hashlock, phase=SwapPhase.DESTINATION_LOCKED)
    obs = observe(
        source_state=HtlcState.LOCKED,
        destination_state=HtlcState.CLAIMED,
        destination_preimage=preimage,
    )
    decision = step(swap, obs, POLICY)
    assert decision.swap.phase is SwapPhase.SOURCE_CLAIMING
    assert decision.swap.preimage == preimage
    assert decision.actions[0].tx_kind is TxKind.SOURCE_CLAIM
    # a preimage that does not hash to the hashlock is ignored
    other, _ = new_secret()
    bogus = obs.model_copy(update={"destination_preimage": other})
    assert step(swap, bogus, POLICY).swap == swap


def test_no_claim_before_t_b_refunds_the_destination_then_the_source_after_t_a() -> None:
    _, hashlock = new_secret()
    swap = make_swap(hashlock, phase=SwapPhase.DESTINATION_LOCKED)
    locked = observe(source_state=HtlcState.LOCKED, destination_state=HtlcState.LOCKED)
    assert step(swap, locked.model_copy(update={"destination_time": 20_299}), POLICY).swap == swap
    decision = step(swap, locked.model_copy(update={"destination_time": 20_300}), POLICY)
    assert decision.swap.phase is SwapPhase.DESTINATION_REFUNDING
    assert decision.actions[0].tx_kind is TxKind.DESTINATION_REFUND
    waiting = decision.swap.model_copy(
        update={"phase": SwapPhase.AWAITING_SOURCE_REFUND, "source_lock": swap.source}
    )
    assert step(waiting, locked, POLICY).swap == waiting
    due = step(waiting, locked.model_copy(update={"source_time": 10_600}), POLICY)
    assert due.swap.phase is SwapPhase.SOURCE_REFUNDING
    assert due.actions[0].tx_kind is TxKind.SOURCE_REFUND
    # the trader refunded by itself first
    done = step(waiting, locked.model_copy(update={"source_state": HtlcState.REFUNDED}), POLICY)
    assert done.swap.phase is SwapPhase.REFUNDED


def test_a_reverted_refund_after_a_last_moment_claim_claims_the_source_instead() -> None:
    preimage, hashlock = new_secret()
    swap = make_swap(
        hashlock,
        phase=SwapPhase.DESTINATION_REFUNDING,
        pending=_pending(TxKind.DESTINATION_REFUND),
    )
    obs = observe(
        source_state=HtlcState.LOCKED,
        destination_state=HtlcState.CLAIMED,
        destination_preimage=preimage,
        receipt=Receipt(status=0, block=502, gas_used=30_000),
    )
    decision = step(swap, obs, POLICY)
    assert decision.swap.phase is SwapPhase.SOURCE_CLAIMING
    assert decision.swap.preimage == preimage
    assert decision.actions[0].tx_kind is TxKind.SOURCE_CLAIM


def test_terminal_swaps_never_move() -> None:
    _, hashlock = new_secret()
    for phase in (SwapPhase.COMPLETED, SwapPhase.REFUNDED, SwapPhase.EXPIRED, SwapPhase.FAILED):
        swap = make_swap(hashlock, phase=phase)
        anything = observe(source_state=HtlcState.REFUNDED, source_time=99_999)
        assert step(swap, anything, POLICY).swap == swap


def test_a_lock_already_final_when_first_seen_goes_straight_to_the_destination_lock() -> None:
    _, hashlock = new_secret()
    swap = make_swap(hashlock)
    obs = observe(
        source_head=101,
        source_locks=(_locked(hashlock, block=100),),
        source_state=HtlcState.LOCKED,
    )
    assert needs_confirmed_state(swap, obs, POLICY)
    ready = obs.model_copy(update={"source_state_confirmed": HtlcState.LOCKED})
    decision = step(swap, ready, POLICY)
    assert decision.swap.phase is SwapPhase.DESTINATION_LOCKING
    assert decision.swap.source_lock == swap.source and decision.swap.source_lock_block == 100
    assert decision.actions[0].tx_kind is TxKind.DESTINATION_LOCK


def test_a_destination_lock_gone_from_the_chain_is_not_refunded_in_a_loop() -> None:
    _, hashlock = new_secret()
    swap = make_swap(hashlock, phase=SwapPhase.DESTINATION_LOCKED)
    gone = observe(
        source_state=HtlcState.LOCKED, destination_state=HtlcState.NONE, destination_time=20_300
    )
    decision = step(swap, gone, POLICY)
    assert decision.swap.phase is SwapPhase.AWAITING_SOURCE_REFUND
    assert decision.actions == ()
    # a claim on a source lock that is no longer there is given up, not retried
    claiming = make_swap(hashlock, phase=SwapPhase.SOURCE_CLAIMING, preimage="0x" + "00" * 32)
    assert step(claiming, observe(), POLICY).swap.phase is SwapPhase.FAILED
