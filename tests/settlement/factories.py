"""Builders of terms, swaps and observations for the settlement tests."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from aggregator.settlement.machine import Observation
from aggregator.settlement.swap import Swap, SwapPhase
from aggregator.settlement.terms import HtlcState, HtlcTerms

TRADER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
RESOLVER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
HTLC_A = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
HTLC_B = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
TOKEN_A = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
TOKEN_B = "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"


def new_secret() -> tuple[str, str]:
    """A fresh (preimage, hashlock) pair as 0x-hex."""
    preimage = secrets.token_bytes(32)
    return "0x" + preimage.hex(), "0x" + hashlib.sha256(preimage).hexdigest()


def source_terms(hashlock: str, **changes: Any) -> HtlcTerms:
    base: dict[str, Any] = {
        "chain": "alpha",
        "chain_id": 31001,
        "htlc": HTLC_A,
        "sender": TRADER,
        "recipient": RESOLVER,
        "token": TOKEN_A,
        "amount": 1_000_000_000,
        "hashlock": hashlock,
        "timelock": 10_600,
    }
    base.update(changes)
    return HtlcTerms(**base)


def destination_terms(hashlock: str, **changes: Any) -> HtlcTerms:
    base: dict[str, Any] = {
        "chain": "beta",
        "chain_id": 31002,
        "htlc": HTLC_B,
        "sender": RESOLVER,
        "recipient": TRADER,
        "token": TOKEN_B,
        "amount": 333_000_000_000_000_000,
        "hashlock": hashlock,
        "timelock": 20_300,
    }
    base.update(changes)
    return HtlcTerms(**base)


def make_swap(hashlock: str, **changes: Any) -> Swap:
    source = source_terms(hashlock)
    base: dict[str, Any] = {
        "id": source.id,
        "version": 1,
        "phase": SwapPhase.AWAITING_SOURCE_LOCK,
        "quote_id": "q1",
        "source": source,
        "destination": destination_terms(hashlock),
        "lock_deadline": 10_060,
        "created_ns": 1,
        "updated_ns": 1,
    }
    base.update(changes)
    return Swap(**base)


def observe(**changes: Any) -> Observation:
    """Source chain at t=10_000, destination at t=20_000 (their clocks differ)."""
    base: dict[str, Any] = {
        "source_head": 100,
        "source_time": 10_000,
        "destination_head": 500,
        "destination_time": 20_000,
        "source_state": HtlcState.NONE,
    }
    base.update(changes)
    return Observation(**base)
