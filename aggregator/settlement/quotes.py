"""Firm quotes in Redis, so any API worker can fetch and execute any quote.

Whoever makes a quote ``put``s it with a time to live matching its expiry;
``mark_used`` is one atomic ``SET NX``, so a quote becomes at most one swap.

Quotes renewed from one route differ only in their id and times, so a worker
may store the route once (:meth:`QuoteStore.reference_lua`) and each quote as
a reference to it: ``{"id", "created_ns", "expires_ns", "route"}``, where
``route`` is the key holding the route's JSON without those three fields.
Every quote stored by reference extends the route's time to live to its own,
so the route outlives every quote that refers to it. Reading a quote puts the
two together; either form reads back as the same :class:`Quote`.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from aggregator.errors import QuoteAlreadyUsedError, QuoteExpiredError, QuoteNotFoundError
from aggregator.models.quote import Quote
from aggregator.models.units import now_ns

__all__ = ["QuoteStore"]

_NS_PER_MS = 1_000_000
_REF_FIELDS = frozenset({"id", "created_ns", "expires_ns", "route"})
_REF_MAX_BYTES = 1024
_ROUTE_MARGIN_MS = 1_000
"""A route outlives the quotes that refer to it by this much (times to live are
reckoned a moment apart for each quote)."""

# KEYS: quote, used marker; ARGV: marker TTL (ms). Returns {quote JSON or '', 1 if taken now}.
_TAKE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {'', 0} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 1 then ttl = tonumber(ARGV[1]) end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ttl) then return {raw, 1} end
return {raw, 0}
"""


def own_json(quote_id: str, created_ns: int, expires_ns: int) -> bytes:
    """The opening of a quote's JSON with the fields its copies do not share (to be
    followed by the rest of a route's JSON, from after its ``{``)."""
    # quote ids are hex: nothing to escape
    id_json = f'"{quote_id}"' if quote_id.isascii() and quote_id.isalnum() else json.dumps(quote_id)
    return f'{{"id":{id_json},"created_ns":{created_ns},"expires_ns":{expires_ns},'.encode()


def _reference(raw: bytes) -> tuple[bytes, str] | None:
    """``(own JSON opening, route key)`` if ``raw`` is a quote stored by reference."""
    if len(raw) > _REF_MAX_BYTES:
        return None
    try:
        ref = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(ref, dict) or ref.keys() != _REF_FIELDS:
        return None
    return own_json(ref["id"], ref["created_ns"], ref["expires_ns"]), ref["route"]


class QuoteStore:
    """``quote:<id>`` holds the quote's JSON (or a reference to its route's, at
    ``quote:route:<id>``); ``quote:<id>:used`` marks it taken."""

    def __init__(self, redis: Redis, prefix: str = "quote", grace_ms: int = 60_000) -> None:
        self.redis = redis
        self.prefix = prefix
        self.grace_ms = grace_ms

    def _key(self, quote_id: str) -> str:
        return f"{self.prefix}:{quote_id}"

    def _used(self, quote_id: str) -> str:
        return f"{self.prefix}:{quote_id}:used"

    def _ttl_ms(self, quote: Quote) -> int:
        # Kept a little past expiry so a late request gets "expired", not "not found".
        left = (quote.expires_ns - now_ns()) // _NS_PER_MS
        return max(1, left) + self.grace_ms

    def route_key(self, route_id: str) -> str:
        return f"{self.prefix}:route:{route_id}"

    async def put(self, quote: Quote) -> None:
        await self.redis.set(self._key(quote.id), quote.model_dump_json(), px=self._ttl_ms(quote))

    def route_command(self, route_key: str, route_json: bytes, quote: Quote) -> tuple[Any, ...]:
        """The SET that stores a route's JSON (``quote.model_dump_json()`` without the
        quote's id and times) for the quotes that refer to it, unless it is there."""
        ttl = self._ttl_ms(quote) + _ROUTE_MARGIN_MS
        return ("SET", route_key, route_json, "NX", "PX", ttl)

    @staticmethod
    def reference_lua(first: int) -> str:
        """Lua that stores a quote as a reference to its route, its arguments
        (:meth:`reference_args`) from ``ARGV[first]`` on; it sets ``replies[1]`` to the
        route's EXISTS (0: the route was missing, and was not sent along).

        The PEXPIRE extends the route past the quote's own time to live, never
        shortening it; the route's JSON, when sent, is stored unless it is there. A
        caller that finds the route was missing stores it again (:meth:`route_command`)
        before the quote is handed out.
        """
        route, key, ref, ttl, route_ttl, route_json = (f"ARGV[{first + i}]" for i in range(6))
        return f"""
  replies[1] = redis.call('EXISTS', {route})
  redis.call('PEXPIRE', {route}, {route_ttl}, 'GT')
  redis.call('SET', {key}, {ref}, 'PX', {ttl})
  if {route_json} ~= '' then redis.call('SET', {route}, {route_json}, 'NX', 'PX', {route_ttl}) end
"""

    def reference_args(
        self, quote: Quote, route_key: str, route_json: bytes = b""
    ) -> tuple[str, str, bytes, int, int, bytes]:
        """The arguments of :meth:`reference_lua` for ``quote``, referring to the route at
        ``route_key``, whose JSON is sent along unless ``route_json`` is empty."""
        ttl = self._ttl_ms(quote)
        ref = own_json(quote.id, quote.created_ns, quote.expires_ns)
        ref += f'"route":{json.dumps(route_key)}}}'.encode()
        return route_key, self._key(quote.id), ref, ttl, ttl + _ROUTE_MARGIN_MS, route_json

    async def get(self, quote_id: str) -> Quote:
        """The quote; :class:`QuoteNotFoundError` if unknown or long gone."""
        raw = await self.redis.get(self._key(quote_id))
        if raw is None:
            raise QuoteNotFoundError("no such quote", quote_id=quote_id)
        return await self._decoded(quote_id, raw)

    async def _decoded(self, quote_id: str, raw: bytes | str) -> Quote:
        raw = raw.encode() if isinstance(raw, str) else raw
        ref = _reference(raw)
        if ref is None:
            return Quote.model_validate_json(raw)
        own, route_key = ref
        route = await self.redis.get(route_key)
        if route is None:
            raise QuoteNotFoundError("no such quote", quote_id=quote_id)
        route = route.encode() if isinstance(route, str) else route
        return Quote.model_validate_json(own + route[1:])

    async def mark_used(self, quote_id: str) -> Quote:
        """Take the quote for one swap, atomically (one script: read it, mark it taken).

        :class:`QuoteExpiredError` past its expiry, :class:`QuoteAlreadyUsedError`
        if taken before, :class:`QuoteNotFoundError` if unknown.
        """
        raw, taken = await self.redis.eval(
            _TAKE, 2, self._key(quote_id), self._used(quote_id), self.grace_ms
        )
        if raw is None or raw == b"" or raw == "":
            raise QuoteNotFoundError("no such quote", quote_id=quote_id)
        try:
            quote = await self._decoded(quote_id, raw)
        except QuoteNotFoundError:
            if taken:
                await self.unmark(quote_id)
            raise
        if quote.expires_ns <= now_ns():
            if taken:
                await self.unmark(quote_id)
            raise QuoteExpiredError("the quote has expired", quote_id=quote_id)
        if not taken:
            raise QuoteAlreadyUsedError("the quote was already used", quote_id=quote_id)
        return quote

    async def unmark(self, quote_id: str) -> None:
        """Give a quote back after a swap could not be created from it."""
        await self.redis.delete(self._used(quote_id))
