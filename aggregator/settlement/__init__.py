"""Atomic cross-chain settlement with hash-timelock contracts, state in Redis.

The trader locks on the source chain under a hashlock until T_A; the
coordinator checks that lock at its confirmation depth, locks the quoted
output for the trader on the destination chain until T_B < T_A, and claims
the source with the preimage the trader's claim reveals. Failing that,
refunds: the resolver's after T_B, the trader's after T_A (sent by the
watchtower if the trader does not).

- :mod:`.machine`: the pure swap state machine ``step(swap, observation)``;
- :mod:`.store`, :mod:`.leases`, :mod:`.nonces`, :mod:`.quotes`,
  :mod:`.reservations`: state in Redis (CAS, fencing leases, nonces, firm
  quotes, inventory reservations);
- :mod:`.coordinator`, :mod:`.sending`, :mod:`.watcher`, :mod:`.recovery`: the
  I/O around the machine (ticks, transactions on record before broadcast,
  reorg-aware event index, rebuild from chain events);
- :mod:`.service`: what the HTTP layer calls; :mod:`.process`: the runnable
  coordinator (``python -m aggregator.settlement``).
"""

from aggregator.settlement.config import ChainEndpoint, GasLimits, SettlementConfig
from aggregator.settlement.coordinator import Coordinator
from aggregator.settlement.crash import CrashPoints
from aggregator.settlement.leases import LeaseManager
from aggregator.settlement.legs import LegExecutor, LegRecord
from aggregator.settlement.machine import (
    Action,
    ActionKind,
    Decision,
    Observation,
    SafetyPolicy,
    step,
)
from aggregator.settlement.nonces import NonceManager
from aggregator.settlement.quotes import QuoteStore
from aggregator.settlement.recovery import rebuild_from_chains
from aggregator.settlement.reservations import RedisReservationStore
from aggregator.settlement.service import LockInstructions, SettlementService, SwapTicket
from aggregator.settlement.store import SwapStore
from aggregator.settlement.swap import Note, Reason, Swap, SwapPhase, TxKind, TxRef
from aggregator.settlement.terms import HtlcState, HtlcTerms

__all__ = [
    "Action",
    "ActionKind",
    "ChainEndpoint",
    "Coordinator",
    "CrashPoints",
    "Decision",
    "GasLimits",
    "HtlcState",
    "HtlcTerms",
    "LeaseManager",
    "LegExecutor",
    "LegRecord",
    "LockInstructions",
    "NonceManager",
    "Note",
    "Observation",
    "QuoteStore",
    "Reason",
    "RedisReservationStore",
    "SafetyPolicy",
    "SettlementConfig",
    "SettlementService",
    "Swap",
    "SwapPhase",
    "SwapStore",
    "SwapTicket",
    "TxKind",
    "TxRef",
    "rebuild_from_chains",
    "step",
]
