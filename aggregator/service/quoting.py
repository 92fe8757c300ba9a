"""Quotes as a worker makes them: route on the local snapshot, reserve if firm, record.

Routing is a pure function of (snapshot, request), so a worker memoizes it per
snapshot (:class:`~aggregator.service.routes.RouteMemo`, which also prices the
hot requests on a newer snapshot before it becomes current): the same request
on the same snapshot is answered with a copy of the earlier route under a new
id and expiry (errors are memoized too). A firm
quote reserves its inventory in Redis, all or nothing; if other firm quotes
took some meanwhile it is priced again on what is free. Every quote is stored
in the shared quote store (any worker can read or execute it) and journaled to
the outbox (with its route legs when firm), in one pipelined round trip shared
with concurrent requests.

Quotes renewed from one memoized route differ only in id and times, so what
they share is serialized once per route (:class:`_Shared`), and the journal's
quote event is the route's event with the quote's own id and times. A quote
that is not firm is stored as a reference to its route, which is stored once
(:class:`ByReference`); a firm quote, which a swap reads, as the route's JSON
with the quote's own id and times put in front.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Mapping
from typing import Any

from redis.asyncio.client import Pipeline

from aggregator.errors import AggregatorError, InsufficientLiquidityError
from aggregator.journal.events import Event, RenewedQuoteEvents, quote_event, quote_events
from aggregator.journal.outbox import Outbox
from aggregator.market.snapshot import MarketSnapshot
from aggregator.models.assets import AssetAt
from aggregator.models.ids import random_id
from aggregator.models.quote import Quote, QuoteRequest
from aggregator.router import Router, inventory_needs
from aggregator.router.trusted import replaced
from aggregator.service.batcher import Queue, RedisBatcher
from aggregator.service.routes import RouteMemo
from aggregator.service.snapshots import SnapshotSource
from aggregator.settlement.quotes import QuoteStore, own_json
from aggregator.settlement.reservations import RedisReservationStore

__all__ = ["ByReference", "QuoteEngine"]

_NS = 1_000_000_000
_OWN = frozenset({"id", "created_ns", "expires_ns"})
"""The fields in which quotes renewed from one route differ."""


class _Shared:
    """What every quote renewed from one memoized route has in common, serialized once."""

    __slots__ = ("_events", "_tail", "paths", "route_key", "stored")

    def __init__(self, route: Quote, route_key: str) -> None:
        self.paths = route.paths
        # the route's JSON without the quote's own fields: b'{"request":...}'
        self._tail = route.model_dump_json(exclude=set(_OWN)).encode()
        self._events = RenewedQuoteEvents(route)
        self.route_key = route_key
        self.stored = False
        """Whether quotes have been admitted with the route stored at ``route_key``."""

    @property
    def route_json(self) -> bytes:
        return self._tail

    def stored_json(self, quote: Quote) -> bytes:
        """``quote.model_dump_json()``, field order aside (the JSON is what is stored)."""
        return own_json(quote.id, quote.created_ns, quote.expires_ns) + self._tail[1:]

    def quote_event(self, quote: Quote) -> Event:
        """``quote_event(quote)``: the route's event under the quote's id and times."""
        return self._events.event(quote.id, quote.created_ns)

    def event_json(self, quote: Quote) -> str:
        """``encode_event(self.quote_event(quote))``, from JSON serialized once."""
        return self._events.json(quote.id, quote.created_ns)


_BY_REFERENCE = QuoteStore.reference_lua(4) + Outbox.append_lua(10)
"""Stores a quote by reference and journals it, in one snippet run after a rate limiter
grants the token (whose script's own arguments come first, up to ``ARGV[3]``)."""


class ByReference:
    """What stores a quote as a reference to its route and journals it, for a caller that
    runs it itself after a rate limiter grants a token (:meth:`RateLimiter.take_then_lua`
    with :attr:`lua` and :attr:`args`), and what to do once it ran: :meth:`admitted`.

    The route is sent along until quotes have been admitted with it; after that a
    quote sends only its reference, and if the reply shows the route was gone
    (Redis restarted or flushed) it is stored again before the quote is answered.
    """

    __slots__ = ("_quote", "_sends_route", "_shared", "_store", "args")

    lua = _BY_REFERENCE

    def __init__(self, quote: Quote, shared: _Shared, store: QuoteStore, outbox: Outbox) -> None:
        self._quote = quote
        self._shared = shared
        self._store = store
        self._sends_route = not shared.stored
        route = shared.route_json if self._sends_route else b""
        stored = store.reference_args(quote, shared.route_key, route)
        self.args = (*stored, *outbox.append_args("quote", shared.event_json(quote)))

    @property
    def sends_route(self) -> bool:
        return self._sends_route

    async def admitted(self, replies: list[Any], batcher: RedisBatcher) -> None:
        """After it ran (``replies`` as the rate limiter returns them): note the route as
        stored, or store it again if it was missing (the reply is the route's EXISTS)."""
        shared = self._shared
        if self._sends_route:
            shared.stored = True
        elif replies[0] == 0:
            restore = self._store.route_command(shared.route_key, shared.route_json, self._quote)
            await batcher.execute(*restore)


class QuoteEngine:
    """Makes, reserves, stores and journals quotes (see the module docstring)."""

    def __init__(
        self,
        router: Router,
        snapshots: SnapshotSource,
        quotes: QuoteStore,
        reservations: RedisReservationStore,
        batcher: RedisBatcher,
        *,
        outbox: Outbox | None = None,
        memo_size: int = 4096,
        warm_s: float = 0.15,
    ) -> None:
        self.router = router
        self.snapshots = snapshots
        self.quotes = quotes
        self.reservations = reservations
        self.batcher = batcher
        self.outbox = outbox
        self.routes = RouteMemo(router, snapshots, size=memo_size, warm_s=warm_s)
        self._shared: dict[int, _Shared] = {}
        self._shared_generation = -1

    # -- routing --------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Number of the snapshot quotes are made on; bumped when another becomes current."""
        return self.routes.generation

    @property
    def memo_hits(self) -> int:
        return self.routes.hits

    def current(self) -> MarketSnapshot:
        """The snapshot quotes are made on now."""
        return self.routes.current()

    def route(self, snapshot: MarketSnapshot, request: QuoteRequest) -> Quote:
        """A fresh quote for ``request`` on ``snapshot`` (memoized while it is current)."""
        found = self.routes.route(snapshot, request)
        if isinstance(found, AggregatorError):
            raise copy.copy(found)
        return self._renew(found)

    def _renew(self, quote: Quote) -> Quote:
        created = time.time_ns()
        return replaced(
            quote,
            id=random_id(),
            created_ns=created,
            expires_ns=created + self.router.config.quote_ttl_s * _NS,
        )

    # -- quoting --------------------------------------------------------------------

    async def quote(self, request: QuoteRequest) -> Quote:
        """Route, reserve when firm, then store and journal; raises the router's typed errors."""
        snapshot = self.routes.current()
        quote = (
            await self._firm(snapshot, request) if request.firm else self.route(snapshot, request)
        )
        await self.record(quote)
        return quote

    async def _free_now(self, snapshot: MarketSnapshot) -> dict[AssetAt, int]:
        lines = snapshot.inventory
        free = await asyncio.gather(*(self.reservations.available(ln.asset_at) for ln in lines))
        return {ln.asset_at: min(ln.available, f) for ln, f in zip(lines, free, strict=True)}

    async def _firm(self, snapshot: MarketSnapshot, request: QuoteRequest) -> Quote:
        attempts = self.router.config.firm_attempts
        for attempt in range(attempts):
            if attempt == 0:
                quote = self.route(snapshot, request)
            else:
                inventory = await self._free_now(snapshot)
                quote = self.router.quote(snapshot, request, inventory=inventory)
            needs = inventory_needs(quote)
            if await self.reservations.reserve(quote.id, needs, quote.expires_ns):
                return quote
        raise InsufficientLiquidityError(
            "the inventory for this quote was taken by other firm quotes", attempts=attempts
        )

    def _shared_for(self, quote: Quote) -> _Shared | None:
        """The shared part of a quote renewed from a memoized route (None for others)."""
        if self._shared_generation != self.routes.generation:
            self._shared.clear()
            self._shared_generation = self.routes.generation
        key = id(quote.paths)
        shared = self._shared.get(key)
        if shared is not None and shared.paths is quote.paths:
            return shared
        memoized = self.routes.memoized(quote.request)
        if not isinstance(memoized, Quote) or memoized.paths is not quote.paths:
            return None
        route_key = self.quotes.route_key(random_id())
        shared = self._shared[key] = _Shared(memoized, route_key)
        return shared

    async def record(self, quote: Quote) -> None:
        """Store the quote for every worker and journal it, in the next shared round trip."""
        await self.batcher.submit(self.recording(quote))

    def _parts(self, quote: Quote) -> tuple[tuple[Any, ...] | None, list[Event]]:
        """The SET that stores ``quote`` with the JSON its route shares (None when it is not
        renewed from a memoized route), and the events that journal it."""
        shared = self._shared_for(quote)
        # every quote is journaled; the route legs of those that can become swaps
        if quote.request.firm:
            events: list[Event] = quote_events(quote)
        elif shared is not None:
            events = [shared.quote_event(quote)]
        else:
            events = [quote_event(quote)]
        if shared is None:
            return None, events
        # SET key value PX ttl, as QuoteStore.put sends it, with the JSON serialized once
        store = self.quotes
        stored = shared.stored_json(quote)
        return ("SET", store._key(quote.id), stored, "PX", store._ttl_ms(quote)), events

    def by_reference(self, quote: Quote) -> ByReference | None:
        """What stores (as a reference to its route) and journals a quote that is not
        firm and was renewed from a memoized route (None for any other quote: use
        :meth:`recording`)."""
        if quote.request.firm or self.outbox is None:
            return None
        shared = self._shared_for(quote)
        if shared is None:
            return None
        return ByReference(quote, shared, self.quotes, self.outbox)

    def recording(self, quote: Quote) -> Queue:
        """What stores and journals ``quote``, queued on a pipeline (see :meth:`record`)."""
        store, outbox = self.quotes, self.outbox
        stored, events = self._parts(quote)

        async def queue(pipe: Pipeline) -> Any:
            if stored is not None:
                # the command itself: the client's ``set`` inspects its arguments per call
                await pipe.execute_command(*stored)
            else:
                await QuoteStore(pipe, store.prefix, store.grace_ms).put(quote)
            if outbox is not None:
                await outbox.append_many(pipe, events)

        return queue

    def inventory(self) -> Mapping[AssetAt, int]:
        return self.routes.current().inventory_by_asset

    async def close(self) -> None:
        await self.routes.close()
