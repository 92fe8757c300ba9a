"""A local request-weight budget, so the connector stays under the venue's limits.

The venue publishes its limits in ``exchangeInfo.rateLimits`` (for instance 6000
REQUEST_WEIGHT per MINUTE, 50 ORDERS per 10 SECOND). Each limit is a fixed window
aligned on the wall clock, as the venue counts them. Before a request the client
acquires its weight (and one order for an order); if a window would overflow it waits
for the window to roll over, or, when told not to wait, raises
:class:`~aggregator.errors.VenueRateLimitError` with the time left. A 429 answer bans
all requests until its ``Retry-After`` has passed. The venue's own count, reported in
``X-MBX-USED-WEIGHT-<interval>`` headers, is folded in when it is higher than ours.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from aggregator.errors import VenueRateLimitError
from connectors.offchain_venue.schemas import RateLimit

__all__ = ["RateLimiter", "request_weight"]

_INTERVAL_S = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}
_INTERVAL_LETTER = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}


def request_weight(method: str, path: str, params: Mapping[str, object] | None = None) -> int:
    """The request weight of an endpoint, as Binance Spot documents it."""
    if path.endswith("/depth"):
        limit = int(str((params or {}).get("limit", 100)))
        if limit <= 100:
            return 5
        if limit <= 500:
            return 25
        if limit <= 1000:
            return 50
        return 250
    if path.endswith(("/exchangeInfo", "/account")):
        return 20
    if path.endswith("/openOrders"):
        return 6 if params and "symbol" in params else 80
    if path.endswith("/order") and method == "GET":
        return 4
    return 1


@dataclass(slots=True)
class _Window:
    kind: str
    header: str
    length_s: int
    cap: int
    start: float = 0.0
    used: int = 0

    def roll(self, now: float) -> None:
        start = now - now % self.length_s
        if start > self.start:
            self.start = start
            self.used = 0

    def wait_for(self, amount: int, now: float) -> float:
        """Seconds until ``amount`` fits (0 if it fits now)."""
        if amount == 0 or self.used + amount <= self.cap or self.used == 0:
            return 0.0
        return self.start + self.length_s - now


class RateLimiter:
    """Fixed-window weight and order budgets, plus the ban a 429 imposes."""

    def __init__(
        self,
        limits: Iterable[RateLimit] = (),
        *,
        safety: float = 0.9,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._safety = safety
        self._clock = clock
        self._sleep = sleep
        self._windows: list[_Window] = []
        self._banned_until = 0.0
        self.configure(limits)

    def configure(self, limits: Iterable[RateLimit]) -> None:
        """Adopt the venue's published limits (REQUEST_WEIGHT and ORDERS)."""
        windows = []
        for limit in limits:
            if limit.rateLimitType not in ("REQUEST_WEIGHT", "ORDERS"):
                continue
            seconds = _INTERVAL_S.get(limit.interval)
            if seconds is None:
                continue
            letter = _INTERVAL_LETTER[limit.interval]
            prefix = "x-mbx-used-weight-" if limit.rateLimitType == "REQUEST_WEIGHT" else ""
            windows.append(
                _Window(
                    kind=limit.rateLimitType,
                    header=f"{prefix}{limit.intervalNum}{letter.lower()}" if prefix else "",
                    length_s=seconds * limit.intervalNum,
                    cap=max(1, int(limit.limit * self._safety)),
                )
            )
        self._windows = windows

    @property
    def banned_for(self) -> float:
        """Seconds left of a ban imposed by a 429 (0 when none)."""
        return max(0.0, self._banned_until - self._clock())

    def ban(self, retry_after: float) -> None:
        self._banned_until = max(self._banned_until, self._clock() + retry_after)

    async def acquire(self, weight: int, *, orders: int = 0, wait: bool = True) -> None:
        """Reserve ``weight`` (and ``orders``) in every window, waiting if ``wait``."""
        while True:
            now = self._clock()
            delay = self._banned_until - now
            if delay <= 0:
                for window in self._windows:
                    window.roll(now)
                    amount = weight if window.kind == "REQUEST_WEIGHT" else orders
                    delay = max(delay, window.wait_for(amount, now))
            if delay <= 0:
                for window in self._windows:
                    window.used += weight if window.kind == "REQUEST_WEIGHT" else orders
                return
            if not wait:
                raise VenueRateLimitError(
                    f"local rate limit: retry in {delay:.3f} s", retry_after=delay
                )
            await self._sleep(delay)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Fold in the venue's own count of used weight from the response headers."""
        now = self._clock()
        for window in self._windows:
            if not window.header:
                continue
            raw = headers.get(window.header)
            if raw is None or not raw.isdigit():
                continue
            window.roll(now)
            window.used = max(window.used, int(raw))
