"""Fixed-window request limits, like Binance's REQUEST_WEIGHT and ORDERS limits.

Windows are aligned on the clock (a one-minute window resets on the minute). A request
that would take a key past the limit is refused with HTTP 429 and a ``Retry-After``
header of the whole seconds until the window resets; it does not count.
"""

from __future__ import annotations

import math

from aggregator.exchange.errors import TooManyRequestsError

__all__ = ["ORDERS_MESSAGE", "WEIGHT_MESSAGE", "FixedWindowLimiter", "interval_label"]

WEIGHT_MESSAGE = (
    "Too much request weight used; current limit is {limit} request weight per {label}. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)
ORDERS_MESSAGE = "Too many new orders; current limit is {limit} orders per {label}."


def interval_label(seconds: int) -> str:
    """Binance's header suffix for a window: 60 -> ``1M``, 10 -> ``10S``, 86400 -> ``1D``."""
    for unit, size in (("D", 86400), ("H", 3600), ("M", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}S"


class FixedWindowLimiter:
    """Counts weight per key in clock-aligned windows of ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: int, *, message: str, venue_code: int) -> None:
        """``message`` may use ``{limit}`` and ``{label}`` (the window, e.g. ``1M``)."""
        self.limit = limit
        self.window_s = window_s
        self.label = interval_label(window_s)
        self._message = message
        self._venue_code = venue_code
        self._windows: dict[str, tuple[int, int]] = {}

    def used(self, key: str, now: float) -> int:
        window, used = self._windows.get(key, (-1, 0))
        return used if window == int(now // self.window_s) else 0

    def hit(self, key: str, weight: int, now: float) -> int:
        """Count ``weight`` for ``key`` and return the weight used in this window."""
        window = int(now // self.window_s)
        current, used = self._windows.get(key, (window, 0))
        if current != window:
            used = 0
        if used + weight > self.limit:
            retry_after = max(1, math.ceil((window + 1) * self.window_s - now))
            raise TooManyRequestsError(
                self._message.format(limit=self.limit, label=self.label),
                retry_after=retry_after,
                venue_code=self._venue_code,
            )
        used += weight
        if len(self._windows) > 10_000:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        self._windows[key] = (window, used)
        return used
