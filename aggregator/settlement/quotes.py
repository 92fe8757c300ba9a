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
        """Take the quote for one swap, atomically.

        :class:`QuoteExpiredError` past its expiry, :class:`QuoteAlreadyUsedError`
        if taken before, :class:`QuoteNotFoundError` if unknown.
        """
        quote = await self.get(quote_id)
        if quote.expires_ns <= now_ns():
            raise QuoteExpiredError("the quote has expired", quote_id=quote_id)
        taken = await self.redis.set(self._used(quote_id), "1", nx=True, px=self._ttl_ms(quote))
        if not taken:
            raise QuoteAlreadyUsedError("the quote was already used", quote_id=quote_id)
        return quote

    async def unmark(self, quote_id: str) -> None:
        """Give a quote back after a swap could not be created from it."""
        await self.redis.delete(self._used(quote_id))
