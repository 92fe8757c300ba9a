"""Conflating fan-out of book updates to any number of ``updates()`` readers.

Publishing marks a market as changed for every reader and wakes them; a reader then
takes each changed market's *current* book. A slow reader therefore skips intermediate
states instead of queueing them, and books are only materialized when someone reads.
Sequences a reader sees per market still only increase.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from aggregator.models import OrderBook
from aggregator.plugins.protocol import LiquidityUpdate

__all__ = ["UpdateFanout"]


class _Reader:
    __slots__ = ("event", "pending")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.pending: dict[str, None] = {}


class UpdateFanout:
    """Readers of book updates; ``current`` gives a market's book now (None: withheld)."""

    def __init__(self, current: Callable[[str], OrderBook | None]) -> None:
        self._current = current
        self._readers: set[_Reader] = set()
        self._closed = False

    def publish(self, market_id: str) -> None:
        for reader in self._readers:
            reader.pending[market_id] = None
            reader.event.set()

    def close(self) -> None:
        """End every reader's iteration."""
        self._closed = True
        for reader in self._readers:
            reader.event.set()

    async def updates(self) -> AsyncIterator[LiquidityUpdate]:
        reader = _Reader()
        self._readers.add(reader)
        try:
            while not self._closed:
                await reader.event.wait()
                reader.event.clear()
                pending = list(reader.pending)
                reader.pending.clear()
                for market_id in pending:
                    book = self._current(market_id)
                    if book is not None:
                        yield LiquidityUpdate.model_construct(market_id=market_id, liquidity=book)
        finally:
            self._readers.discard(reader)
