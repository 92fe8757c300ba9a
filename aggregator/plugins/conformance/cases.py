"""The conformance cases: stable ids and what each one checks.

A case id never changes once published; failure messages and the pytest
plugin's summary name cases by it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BOOKS_SORTED_UNCROSSED",
    "CAPABILITIES_DECLARED",
    "CASES",
    "CURVES_WELL_FORMED",
    "EXECUTE_MEETS_MINIMUM",
    "EXECUTE_REFUSES_IMPOSSIBLE_MINIMUM",
    "HEALTHY_AFTER_START",
    "MARKETS_WELL_FORMED",
    "SEQUENCES_MONOTONIC",
    "STALENESS_REPORTED",
    "UPDATES_REPRODUCE_SNAPSHOT",
    "Case",
]


@dataclass(frozen=True)
class Case:
    id: str
    summary: str


CAPABILITIES_DECLARED = Case(
    "conformance/capabilities-declared",
    "every capability is either supported or declared unsupported with a reason, not both",
)
HEALTHY_AFTER_START = Case(
    "conformance/healthy-after-start",
    "after start the connector reports HEALTHY under its own name and serves every market",
)
MARKETS_WELL_FORMED = Case(
    "conformance/markets-well-formed",
    "markets are unique, belong to the connector, sit at one location and match their data",
)
BOOKS_SORTED_UNCROSSED = Case(
    "conformance/books-sorted-uncrossed",
    "books have strictly sorted sides, positive prices and sizes, and are never crossed",
)
CURVES_WELL_FORMED = Case(
    "conformance/curves-well-formed",
    "AMM curves have positive reserves and the market's pool and fee",
)
SEQUENCES_MONOTONIC = Case(
    "conformance/sequences-monotonic",
    "the update stream's sequences strictly increase per market",
)
UPDATES_REPRODUCE_SNAPSHOT = Case(
    "conformance/updates-reproduce-snapshot",
    "the state built from updates equals a fresh snapshot from the source at the same sequence",
)
STALENESS_REPORTED = Case(
    "conformance/staleness-reported",
    "health turns STALE within a bound when the source stops, and HEALTHY after it restarts",
)
EXECUTE_REFUSES_IMPOSSIBLE_MINIMUM = Case(
    "conformance/execute-refuses-impossible-minimum",
    "an unreachable min_amount_out is refused with a typed error and executes nothing",
)
EXECUTE_MEETS_MINIMUM = Case(
    "conformance/execute-meets-minimum",
    "a feasible execution returns amount_out >= min_amount_out and matching balances",
)

CASES: tuple[Case, ...] = (
    CAPABILITIES_DECLARED,
    HEALTHY_AFTER_START,
    MARKETS_WELL_FORMED,
    BOOKS_SORTED_UNCROSSED,
    CURVES_WELL_FORMED,
    SEQUENCES_MONOTONIC,
    UPDATES_REPRODUCE_SNAPSHOT,
    STALENESS_REPORTED,
    EXECUTE_REFUSES_IMPOSSIBLE_MINIMUM,
    EXECUTE_MEETS_MINIMUM,
)
