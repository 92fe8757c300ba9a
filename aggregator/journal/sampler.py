"""Samples market state into the outbox: chain heads, book tops, connector health.

The market-data process runs one :class:`MarketSampler` over its connectors. Every
tick it journals each chain's new head (once per height), each order book's top
(at most once per ``book_interval_s`` and only when its update id moved) and each
connector's health (when it changes, and at least every ``health_interval_s``).
Event ids are derived from what they describe where that is unique (a chain
height, a book's update id), so a replay deduplicates in QuestDB. The
``ts_recv - ts_event`` of these rows is what state-synchronization latency is
computed from.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from redis.asyncio import Redis

from aggregator.journal.events import (
    BookTopEvent,
    ChainHeadEvent,
    ConnectorHealthEvent,
    Event,
)
from aggregator.journal.outbox import Outbox
from aggregator.market.builder import ChainStateSource
from aggregator.models.liquidity import OrderBook
from aggregator.models.units import now_ns
from aggregator.plugins.protocol import Connector

__all__ = ["MarketSampler"]

log = logging.getLogger(__name__)

_NS = 1_000_000_000


class MarketSampler:
    """Turns connectors' state into journal events (see the module docstring)."""

    def __init__(
        self,
        connectors: Sequence[Connector],
        outbox: Outbox,
        *,
        tick_s: float = 0.2,
        book_interval_s: float = 1.0,
        health_interval_s: float = 10.0,
        clock: Callable[[], int] = now_ns,
    ) -> None:
        self._connectors = tuple(connectors)
        self._outbox = outbox
        self._tick_s = tick_s
        self._book_every = int(book_interval_s * _NS)
        self._health_every = int(health_interval_s * _NS)
        self._clock = clock
        self._heads: dict[str, int] = {}
        self._tops: dict[str, tuple[int, int]] = {}
        self._health: dict[str, tuple[str, str, int]] = {}

    def sample(self) -> list[Event]:
        """The events due now; updates what was last journaled."""
        now = self._clock()
        events: list[Event] = []
        for connector in self._connectors:
            events.extend(self._head(connector))
            events.extend(self._books(connector, now))
            events.extend(self._connector_health(connector, now))
        return events

    def _head(self, connector: Connector) -> list[Event]:
        if not isinstance(connector, ChainStateSource):
            return []
        try:
            state = connector.chain_state()
        except Exception:  # no head seen yet
            return []
        if self._heads.get(state.key, -1) >= state.head:
            return []
        self._heads[state.key] = state.head
        return [
            ChainHeadEvent.create(
                chain=state.key,
                height=state.head,
                block_time=state.head_time * _NS,
                seen=state.ts_recv,
                event_id=f"head:{state.key}:{state.head}",
            )
        ]

    def _books(self, connector: Connector, now: int) -> list[Event]:
        events: list[Event] = []
        for market in connector.markets():
            book = connector.liquidity(market.id)
            if not isinstance(book, OrderBook):
                continue
            last_seq, last_at = self._tops.get(market.id, (-1, 0))
            if book.sequence == last_seq or now - last_at < self._book_every:
                continue
            self._tops[market.id] = (book.sequence, now)
            bid = book.bids[0] if book.bids else None
            ask = book.asks[0] if book.asks else None
            events.append(
                BookTopEvent(
                    event_id=f"top:{market.id}:{book.sequence}",
                    ts_event=book.ts_event,
                    ts_recv=book.ts_recv,
                    venue=connector.name,
                    market=market.id,
                    bid=float(bid.price) if bid else None,
                    ask=float(ask.price) if ask else None,
                    bid_size=float(bid.size) / 10**book.base_decimals if bid else None,
                    ask_size=float(ask.size) / 10**book.base_decimals if ask else None,
                )
            )
        return events

    def _connector_health(self, connector: Connector, now: int) -> list[Event]:
        health = connector.health()
        reason = health.reason or "; ".join(f"{m}: {r}" for m, r in health.quarantined.items())
        status = health.status.value
        last = self._health.get(connector.name)
        if last is not None and (last[0], last[1]) == (status, reason):
            if now - last[2] < self._health_every:
                return []
        self._health[connector.name] = (status, reason, now)
        age_ms = (health.age_ns or 0) // 1_000_000
        return [
            ConnectorHealthEvent(
                ts_event=health.last_update_ns or now,
                ts_recv=now,
                connector=connector.name,
                status=status,
                reason=reason[:500],
                age_ms=max(age_ms, 0),
            )
        ]

    async def run(self, redis: Redis, stop: asyncio.Event) -> None:
        """Journal what is due every tick until ``stop`` is set."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                events = self.sample()
                if events:
                    async with redis.pipeline(transaction=True) as pipe:
                        await self._outbox.append_many(pipe, events)
                        await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # journaling must never stop market data
                log.warning("market sampling failed: %s", exc)
            await asyncio.sleep(max(0.0, self._tick_s - (time.monotonic() - started)))
