"""Token buckets in Redis: one Lua script, shared by every API worker.

Each bucket is a HASH (``tokens``, ``ts`` in microseconds from Redis's own
clock, so workers on different machines agree) that expires once it would be
full again. A request takes one token or is refused with the seconds until
one is there, which becomes the ``Retry-After`` header.

The script is sent by its SHA1 (EVALSHA), not as text on every request; when
the server does not know it (a restart, SCRIPT FLUSH) it is sent once in full.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

from aggregator.errors import RateLimitedError
from aggregator.service.batcher import RedisBatcher
from aggregator.settings import RateLimit

__all__ = ["RateLimiter"]

# KEYS[1] bucket; ARGV rate per second, burst, cost -> {allowed, retry_after_ms}
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
local elapsed = math.max(0, now - ts)
tokens = math.min(burst, tokens + elapsed * rate / 1000000)
local allowed = 0
local wait_ms = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait_ms = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
local full_ms = math.ceil((burst - tokens) * 1000 / rate) + 1000
redis.call('PEXPIRE', KEYS[1], full_ms)
return {allowed, wait_ms}
"""
_TAKE_SHA = hashlib.sha1(_TAKE.encode()).hexdigest()


class RateLimiter:
    """Named token buckets (``quote:ip:...``, ``swap:key:...``) under one prefix."""

    def __init__(self, batcher: RedisBatcher, prefix: str = "agg:rl") -> None:
        self.batcher = batcher
        self.prefix = prefix

    async def take(self, scope: str, identity: str, limit: RateLimit, cost: int = 1) -> None:
        """Take ``cost`` tokens from the bucket, or raise :class:`RateLimitedError`."""
        key = f"{self.prefix}:{scope}:{identity}"
        args = (key, repr(limit.rate_per_s), limit.burst, cost)

        async def by_sha(pipe: Pipeline) -> Any:
            return await pipe.evalsha(_TAKE_SHA, 1, *args)

        async def in_full(pipe: Pipeline) -> Any:
            return await pipe.eval(_TAKE, 1, *args)

        try:
            [result] = await self.batcher.submit(by_sha)
        except NoScriptError:
            [result] = await self.batcher.submit(in_full)
        allowed, wait_ms = int(result[0]), int(result[1])
        if not allowed:
            retry_after = max(1, math.ceil(wait_ms / 1000))
            raise RateLimitedError(
                f"too many {scope} requests; retry in {retry_after} s",
                retry_after=retry_after,
                scope=scope,
            )
