"""Firm quotes in Redis, so any API worker can fetch and execute any quote.

Whoever makes a quote ``put``s it with a time to live matching its expiry;
``mark_used`` is one atomic ``SET NX``, so a quote becomes at most one swap.
"""

from __future__ import annotations

from redis.asyncio import Redis

from aggregator.errors import QuoteAlreadyUsedError, QuoteExpiredError, QuoteNotFoundError
from aggregator.models.quote import Quote
from aggregator.models.units import now_ns

__all__ = ["QuoteStore"]

_NS_PER_MS = 1_000_000

# KEYS: quote, used marker; ARGV: marker TTL (ms). Returns {quote JSON or '', 1 if taken now}.
_TAKE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {'', 0} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 1 then ttl = tonumber(ARGV[1]) end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ttl) then return {raw, 1} end
return {raw, 0}
"""


class QuoteStore:
    """``quote:<id>`` holds the quote's JSON; ``quote:<id>:used`` marks it taken."""

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

    async def put(self, quote: Quote) -> None:
        await self.redis.set(self._key(quote.id), quote.model_dump_json(), px=self._ttl_ms(quote))

    async def get(self, quote_id: str) -> Quote:
        """The quote; :class:`QuoteNotFoundError` if unknown or long gone."""
        raw = await self.redis.get(self._key(quote_id))
        if raw is None:
            raise QuoteNotFoundError("no such quote", quote_id=quote_id)
        return Quote.model_validate_json(raw)

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
        quote = Quote.model_validate_json(raw)
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
