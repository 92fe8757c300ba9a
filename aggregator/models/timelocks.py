"""Timelock policy for hash-timelocked settlement: pure arithmetic over chain states.

The trader locks on the source chain (A) until ``T_A``; the resolver locks on the
destination chain (B) until ``T_B``. Durations are whole seconds, measured from
the lock they belong to and read off that chain's own head time::

    T_B       = trader's claim window
                + inclusion and confirmations of the resolver's lock on B
    T_A - T_B = resolver reaction
                + inclusion and confirmations on A
                + clock skew between the chains
                + margin

The confirmations on A are spent before the resolver locks on B (it waits for the
trader's lock to be final); what must still be left on the trader's lock at that
moment is :func:`min_time_left_to_lock`: ``T_B`` plus the time the resolver needs
to claim on A once the secret appears on B (reaction and inclusion on A), plus
skew and margin. Settlement refuses to lock on B with less than that left.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from aggregator.market.snapshot import ChainState

__all__ = [
    "TimelockPlan",
    "TimelockPolicy",
    "confirmation_s",
    "inclusion_s",
    "is_safe_to_lock",
    "min_time_left_to_lock",
    "timelock_plan",
]


class TimelockPolicy(BaseModel):
    """How much time each side of a swap is given; every field in seconds unless noted."""

    model_config = ConfigDict(frozen=True)

    resolver_reaction_s: int = Field(
        default=30,
        ge=0,
        description="Time the resolver needs to act on an observed event (a lock to answer, "
        "a revealed secret to claim with) before its transaction is sent.",
    )
    clock_skew_s: int = Field(
        default=30,
        ge=0,
        description="Largest difference between the two chains' block timestamps.",
    )
    margin_s: int = Field(
        default=60, ge=0, description="Extra safety on top of every other allowance."
    )
    min_destination_window_s: int = Field(
        default=300,
        gt=0,
        description="Time the trader has to claim on the destination chain once the "
        "resolver's lock there is final.",
    )
    inclusion_blocks: int = Field(
        default=2,
        ge=1,
        description="Blocks (count, not seconds) allowed for a sent transaction to be included.",
    )


class TimelockPlan(NamedTuple):
    """Durations for one swap, in whole seconds."""

    source_timelock_s: int
    """T_A: the trader's lock on the source chain, from its inclusion."""
    destination_timelock_s: int
    """T_B: the resolver's lock on the destination chain, from its sending."""
    eta_s: int
    """Expected seconds from the trader's lock to the resolver's lock being final."""


def inclusion_s(chain: ChainState, policy: TimelockPolicy) -> float:
    """Seconds for a transaction to be included on ``chain``."""
    return policy.inclusion_blocks * chain.block_time_s


def confirmation_s(chain: ChainState) -> float:
    """Seconds for an included transaction to reach ``chain``'s confirmation depth."""
    return chain.confirmations * chain.block_time_s


def _destination_timelock(policy: TimelockPolicy, destination: ChainState) -> int:
    return math.ceil(
        policy.min_destination_window_s
        + inclusion_s(destination, policy)
        + confirmation_s(destination)
    )


def _claim_allowance(policy: TimelockPolicy, source: ChainState) -> int:
    """What must be left on A beyond T_B when the resolver locks on B."""
    return math.ceil(
        policy.resolver_reaction_s
        + inclusion_s(source, policy)
        + policy.clock_skew_s
        + policy.margin_s
    )


def timelock_plan(
    policy: TimelockPolicy, source: ChainState, destination: ChainState
) -> TimelockPlan:
    """T_A, T_B and the expected time to delivery for a swap from ``source`` to ``destination``."""
    t_b = _destination_timelock(policy, destination)
    t_a = t_b + _claim_allowance(policy, source) + math.ceil(confirmation_s(source))
    eta = math.ceil(
        inclusion_s(source, policy)
        + confirmation_s(source)
        + policy.resolver_reaction_s
        + inclusion_s(destination, policy)
        + confirmation_s(destination)
    )
    return TimelockPlan(source_timelock_s=t_a, destination_timelock_s=t_b, eta_s=eta)


def min_time_left_to_lock(
    policy: TimelockPolicy, source: ChainState, destination: ChainState
) -> int:
    """Seconds that must remain on the trader's lock (by A's clock) for the resolver to lock on B.

    It is T_B plus the resolver's claim allowance on A (reaction, inclusion, skew, margin):
    with less left, a trader claiming at the last moment on B could leave the resolver
    unable to claim on A in time.
    """
    return _destination_timelock(policy, destination) + _claim_allowance(policy, source)


def is_safe_to_lock(
    policy: TimelockPolicy,
    source: ChainState,
    destination: ChainState,
    source_timelock: int,
    source_head_time: int,
) -> bool:
    """Whether the resolver may still lock on B.

    ``source_timelock`` is the trader's absolute timelock on A (unix seconds, A's clock) and
    ``source_head_time`` A's latest block timestamp; never the local clock.
    """
    left = source_timelock - source_head_time
    return left >= min_time_left_to_lock(policy, source, destination)
