"""The swap record: one cross-chain settlement, as persisted in Redis.

A swap is keyed by the id of the trader's lock on the source chain (its terms
are fixed when the swap is created), so a record rebuilt from chain events
gets the same id as the one that was lost.

Phases (``→`` marks a transition the state machine makes)::

    awaiting_source_lock ─► source_locked ─► destination_locking ─► destination_locked
         │  (no lock by the deadline)  │ (wrong terms, unsafe time, lock revert)  │
         ▼                             ▼                                          ▼
      expired                 awaiting_source_refund ◄─ destination_refunding ◄─ (T_B passed)
                                       │                                          │ (claimed)
                                       ▼                                          ▼
                              source_refunding ─► refunded        source_claiming ─► completed

``failed`` is terminal for the one case the resolver loses: the trader claimed
but the resolver's own claim on the source chain could not land before T_A.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from aggregator.settlement.terms import Hex32, HtlcTerms

__all__ = [
    "TERMINAL_PHASES",
    "Note",
    "Reason",
    "Swap",
    "SwapPhase",
    "TxKind",
    "TxRef",
]


class SwapPhase(StrEnum):
    AWAITING_SOURCE_LOCK = "awaiting_source_lock"
    SOURCE_LOCKED = "source_locked"
    DESTINATION_LOCKING = "destination_locking"
    DESTINATION_LOCKED = "destination_locked"
    SOURCE_CLAIMING = "source_claiming"
    COMPLETED = "completed"
    DESTINATION_REFUNDING = "destination_refunding"
    AWAITING_SOURCE_REFUND = "awaiting_source_refund"
    SOURCE_REFUNDING = "source_refunding"
    REFUNDED = "refunded"
    EXPIRED = "expired"
    FAILED = "failed"


TERMINAL_PHASES: Final = frozenset(
    {SwapPhase.COMPLETED, SwapPhase.REFUNDED, SwapPhase.EXPIRED, SwapPhase.FAILED}
)


class TxKind(StrEnum):
    """What a resolver transaction does."""

    DESTINATION_LOCK = "destination_lock"
    SOURCE_CLAIM = "source_claim"
    DESTINATION_REFUND = "destination_refund"
    SOURCE_REFUND = "source_refund"

    @property
    def on_source(self) -> bool:
        return self in (TxKind.SOURCE_CLAIM, TxKind.SOURCE_REFUND)


class Reason(StrEnum):
    """Why a swap left the happy path."""

    TERMS_MISMATCH = "terms_mismatch"
    TIMELOCK_UNSAFE = "timelock_unsafe"
    SOURCE_LOCK_REORGED = "source_lock_reorged"
    LOCK_DEADLINE_PASSED = "lock_deadline_passed"
    DESTINATION_LOCK_REVERTED = "destination_lock_reverted"
    NOT_CLAIMED_IN_TIME = "not_claimed_in_time"
    DESTINATION_REFUNDED_BY_OTHER = "destination_refunded_by_other"
    STATE_LOST = "state_lost"
    TX_REVERTED = "tx_reverted"
    TX_DROPPED = "tx_dropped"
    CLAIM_TOO_LATE = "claim_too_late"


class Note(BaseModel):
    """A recorded reason, with a human-readable detail."""

    model_config = ConfigDict(frozen=True)

    reason: Reason
    detail: str = ""
    error_code: str = Field(default="", description="Code of the matching typed error, if any.")
    phase: SwapPhase = Field(description="Phase the swap was in when this was recorded.")


class TxRef(BaseModel):
    """A resolver transaction for a swap: signed, persisted, then broadcast."""

    model_config = ConfigDict(frozen=True)

    kind: TxKind
    chain: str
    hash: Hex32
    nonce: int = Field(ge=0)
    batch_size: int = Field(default=1, ge=1, description="Swaps carried by the transaction.")
    block: int | None = Field(default=None, description="Inclusion block, once the receipt is in.")
    status: int | None = Field(default=None, description="1 success, 0 reverted.")
    gas_used: int | None = Field(default=None, description="This swap's share of the gas.")


class Swap(BaseModel):
    """One settlement: both locks' terms, where it stands, and what was sent."""

    model_config = ConfigDict(frozen=True)

    id: Hex32 = Field(description="Id of the trader's lock on the source chain.")
    version: int = Field(ge=0, description="Bumped by every persisted transition (CAS).")
    phase: SwapPhase
    quote_id: str | None = Field(default=None, description="Quote the swap executes.")
    source: HtlcTerms = Field(description="The trader's lock, as agreed.")
    destination: HtlcTerms | None = Field(
        default=None, description="The resolver's lock for the trader (None if unknown)."
    )
    lock_deadline: int = Field(description="Source chain time after which no lock is awaited.")
    source_lock: HtlcTerms | None = Field(
        default=None, description="The trader's lock as seen on chain (may differ if rejected)."
    )
    source_lock_block: int | None = None
    preimage: Hex32 | None = Field(default=None, description="The secret, once revealed.")
    lock_alone: bool = Field(
        default=False, description="Lock on the destination in a transaction of its own."
    )
    pending: TxRef | None = Field(default=None, description="Sent, receipt not yet recorded.")
    txs: tuple[TxRef, ...] = Field(default=(), description="Transactions with their receipts.")
    notes: tuple[Note, ...] = ()
    created_ns: int
    updated_ns: int

    @property
    def chain_pair(self) -> str:
        dest = self.destination.chain if self.destination is not None else "?"
        return f"{self.source.chain}->{dest}"

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def reason(self) -> Note | None:
        return self.notes[-1] if self.notes else None

    @property
    def watched_source(self) -> HtlcTerms:
        """The source lock whose state matters: the one seen on chain, else the agreed one."""
        return self.source_lock if self.source_lock is not None else self.source
