"""Timelock policy: T_B covers the destination, T_A - T_B covers the source side."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aggregator.models.timelocks import (
    TimelockPolicy,
    confirmation_s,
    inclusion_s,
    is_safe_to_lock,
    min_time_left_to_lock,
    timelock_plan,
)
from tests.router.factory import chain_state


def test_durations_follow_the_documented_formulas() -> None:
    policy = TimelockPolicy(
        resolver_reaction_s=20,
        clock_skew_s=15,
        margin_s=40,
        min_destination_window_s=600,
        inclusion_blocks=3,
    )
    source = chain_state("alpha", block_time_s=12.0, confirmations=4)
    destination = chain_state("beta", block_time_s=2.0, confirmations=10)
    plan = timelock_plan(policy, source, destination)
    assert plan.destination_timelock_s == 600 + 3 * 2 + 10 * 2
    assert plan.source_timelock_s - plan.destination_timelock_s == 20 + 3 * 12 + 4 * 12 + 15 + 40
    assert plan.eta_s == 3 * 12 + 4 * 12 + 20 + 3 * 2 + 10 * 2
    assert inclusion_s(source, policy) == 36
    assert confirmation_s(destination) == 20


def test_source_lock_outlasts_destination_lock_for_any_chains() -> None:
    policy = TimelockPolicy()
    for bt_a, conf_a, bt_b, conf_b in [(0.5, 0, 12.0, 64), (12.0, 64, 0.5, 0), (1.0, 1, 1.0, 1)]:
        source = chain_state("alpha", block_time_s=bt_a, confirmations=conf_a)
        destination = chain_state("beta", block_time_s=bt_b, confirmations=conf_b)
        plan = timelock_plan(policy, source, destination)
        assert plan.source_timelock_s > plan.destination_timelock_s > 0
        left = min_time_left_to_lock(policy, source, destination)
        # the wait for the source confirmations fits between the two
        assert plan.source_timelock_s - left >= confirmation_s(source) - 1
        assert left > plan.destination_timelock_s


def test_fractional_block_times_round_up() -> None:
    policy = TimelockPolicy(
        resolver_reaction_s=0, clock_skew_s=0, margin_s=0, min_destination_window_s=1
    )
    chain = chain_state("alpha", block_time_s=0.4, confirmations=1)
    plan = timelock_plan(policy, chain, chain)
    assert plan.destination_timelock_s == 3  # 1 + 0.8 + 0.4 = 2.2 -> 3


def test_safe_to_lock_is_read_off_the_source_chain_clock() -> None:
    policy = TimelockPolicy()
    source, destination = chain_state("alpha"), chain_state("beta")
    need = min_time_left_to_lock(policy, source, destination)
    head = source.head_time
    assert is_safe_to_lock(policy, source, destination, head + need, head)
    assert not is_safe_to_lock(policy, source, destination, head + need - 1, head)


def test_policy_is_frozen_and_validated() -> None:
    policy = TimelockPolicy()
    with pytest.raises(ValidationError):
        policy.margin_s = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        TimelockPolicy(min_destination_window_s=0)
    for name, field in TimelockPolicy.model_fields.items():
        assert field.description, name
