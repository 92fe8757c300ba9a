"""Crash points for fault-injection tests: die by SIGKILL exactly at a step boundary.

``AGGREGATOR_CRASH_AT=<step>:<phase>[,<step>:<phase>...]`` makes the process
kill itself the first time it passes that boundary. Steps are swap phases
entered by a persisted transition (``destination_locking``, ``completed``...)
and transaction kinds (``destination_lock``, ``source_claim``...); boundaries
are ``after_persist`` (the transition and any signed transaction are in Redis,
nothing was broadcast) and ``after_broadcast`` (the transaction was sent, its
receipt not yet recorded). Unset, every check is a no-op.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Final

__all__ = ["CRASH_ENV", "PHASES", "CrashPoints"]

CRASH_ENV: Final = "AGGREGATOR_CRASH_AT"
PHASES: Final = ("after_persist", "after_broadcast")


class CrashPoints:
    """The boundaries at which this process kills itself."""

    def __init__(self, points: frozenset[tuple[str, str]] = frozenset()) -> None:
        for _, phase in points:
            if phase not in PHASES:
                raise ValueError(f"unknown crash phase {phase!r}; expected one of {PHASES}")
        self.points = points

    @classmethod
    def from_env(cls) -> CrashPoints:
        spec = os.environ.get(CRASH_ENV, "").strip()
        if not spec:
            return cls()
        points = set()
        for item in spec.split(","):
            step, _, phase = item.strip().partition(":")
            points.add((step, phase))
        return cls(frozenset(points))

    def check(self, step: str, phase: str) -> None:
        """SIGKILL this process if ``step:phase`` is a crash point."""
        if (step, phase) in self.points:
            print(f"crash point {step}:{phase}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
