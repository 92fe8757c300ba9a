"""Inventory reservations behind firm quotes.

A firm quote promises inventory: the output at the buy location (delivered from
the resolver's inventory there) and what every transfer leg fronts at its
destination. A :class:`ReservationStore` reserves those amounts for the quote's
lifetime, all or nothing and atomically, so two firm quotes never promise the
same units. :func:`firm_quote` prices a request on what is free *now* and
re-prices if another quote took some inventory in between.

This module ships the protocol and an in-memory store (thread-safe, one
process); a shared store (e.g. in Redis) implements the same methods, or their
``async`` twins in :class:`AsyncReservationStore`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from aggregator.errors import InsufficientLiquidityError
from aggregator.market.snapshot import MarketSnapshot
from aggregator.models.assets import AssetAt
from aggregator.models.quote import Quote, QuoteRequest
from aggregator.router.quote import Router

__all__ = [
    "AsyncReservationStore",
    "InMemoryReservationStore",
    "ReservationStore",
    "firm_quote",
    "inventory_needs",
]


@runtime_checkable
class ReservationStore(Protocol):
    """Reservations of the resolver's inventory, keyed by quote id."""

    def reserve(self, quote_id: str, amounts: Mapping[AssetAt, int], expires_ns: int) -> bool:
        """Reserve every amount or none; False (and nothing reserved) if any is short."""
        ...

    def release(self, quote_id: str) -> None:
        """Give a quote's reservation back (no-op if unknown or expired)."""
        ...

    def reserved(self, asset_at: AssetAt) -> int:
        """Units of ``asset_at`` held by live reservations."""
        ...

    def available(self, asset_at: AssetAt) -> int:
        """Holdings of ``asset_at`` minus live reservations."""
        ...


@runtime_checkable
class AsyncReservationStore(Protocol):
    """The same contract as :class:`ReservationStore` for stores reached over the network."""

    async def reserve(
        self, quote_id: str, amounts: Mapping[AssetAt, int], expires_ns: int
    ) -> bool: ...

    async def release(self, quote_id: str) -> None: ...

    async def reserved(self, asset_at: AssetAt) -> int: ...

    async def available(self, asset_at: AssetAt) -> int: ...


@dataclass(frozen=True, slots=True)
class _Reservation:
    amounts: dict[AssetAt, int]
    expires_ns: int


class InMemoryReservationStore:
    """A :class:`ReservationStore` in one process; expired reservations lapse by themselves."""

    def __init__(
        self, holdings: Mapping[AssetAt, int], clock: Callable[[], int] = time.time_ns
    ) -> None:
        self._holdings = dict(holdings)
        self._clock = clock
        self._lock = threading.Lock()
        self._by_quote: dict[str, _Reservation] = {}
        self._reserved: dict[AssetAt, int] = {}

    def set_holdings(self, asset_at: AssetAt, amount: int) -> None:
        with self._lock:
            self._holdings[asset_at] = amount

    def _expire(self) -> None:
        now = self._clock()
        for quote_id in [q for q, r in self._by_quote.items() if r.expires_ns <= now]:
            self._drop(quote_id)

    def _drop(self, quote_id: str) -> None:
        reservation = self._by_quote.pop(quote_id, None)
        if reservation is None:
            return
        for asset_at, amount in reservation.amounts.items():
            self._reserved[asset_at] -= amount

    def reserve(self, quote_id: str, amounts: Mapping[AssetAt, int], expires_ns: int) -> bool:
        wanted = {a: v for a, v in amounts.items() if v > 0}
        with self._lock:
            self._expire()
            if quote_id in self._by_quote:
                return False
            for asset_at, amount in wanted.items():
                free = self._holdings.get(asset_at, 0) - self._reserved.get(asset_at, 0)
                if amount > free:
                    return False
            for asset_at, amount in wanted.items():
                self._reserved[asset_at] = self._reserved.get(asset_at, 0) + amount
            self._by_quote[quote_id] = _Reservation(wanted, expires_ns)
            return True

    def release(self, quote_id: str) -> None:
        with self._lock:
            self._drop(quote_id)

    def reserved(self, asset_at: AssetAt) -> int:
        with self._lock:
            self._expire()
            return self._reserved.get(asset_at, 0)

    def available(self, asset_at: AssetAt) -> int:
        with self._lock:
            self._expire()
            return self._holdings.get(asset_at, 0) - self._reserved.get(asset_at, 0)


def inventory_needs(quote: Quote) -> dict[AssetAt, int]:
    """What a quote takes from the resolver's inventory: the output at the buy location,
    plus what each transfer fronts elsewhere (transfers landing at the buy location are
    part of the delivered output)."""
    buy = quote.request.buy
    needs: dict[AssetAt, int] = {buy: quote.amount_out}
    for leg in quote.legs:
        if leg.kind == "transfer" and leg.asset_out != buy:
            needs[leg.asset_out] = needs.get(leg.asset_out, 0) + leg.amount_out
    return needs


def firm_quote(
    router: Router,
    snapshot: MarketSnapshot,
    request: QuoteRequest,
    store: ReservationStore,
    *,
    now_ns: int | None = None,
) -> Quote:
    """A quote whose inventory is reserved until it expires.

    Priced on the inventory free right now (the snapshot's lines, capped by the store's
    availability); if the reservation fails because another quote took inventory in
    between, it is priced again, up to ``firm_attempts`` times.
    """
    for _ in range(router.config.firm_attempts):
        inventory = {
            line.asset_at: min(line.available, store.available(line.asset_at))
            for line in snapshot.inventory
        }
        quote = router.quote(snapshot, request, inventory=inventory, now_ns=now_ns)
        if store.reserve(quote.id, inventory_needs(quote), quote.expires_ns):
            return quote
    raise InsufficientLiquidityError(
        "the inventory for this quote was taken by other firm quotes",
        attempts=router.config.firm_attempts,
    )
