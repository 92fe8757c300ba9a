"""Token buckets in Redis: one Lua script, shared by every API worker.

Each bucket is a HASH (``tokens``, ``ts`` in microseconds from Redis's own
clock, so workers on different machines agree) that expires once it would be
full again. A request takes one token or is refused with the seconds until
one is there, which becomes the ``Retry-After`` header.

:meth:`RateLimiter.take_then` takes the token and, only if it was granted,
runs the caller's commands (or Lua of its own: :meth:`RateLimiter.take_then_lua`)
in the same script and returns their replies: a quote is stored and journaled
in the round trip that admits it, and a refused request leaves nothing behind.
(The commands' keys are not declared to the script, which is fine on one Redis
server or a replicated one, not on a sharded cluster.)

The scripts are sent by their SHA1 (EVALSHA), not as text on every request;
when the server does not know one (a restart, SCRIPT FLUSH) it is sent once in
full. A worker remembers until when it was told a bucket is empty and refuses
that client again without asking: no token can come back sooner, so Redis
would answer the same.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

from aggregator.errors import RateLimitedError
from aggregator.service.batcher import Queue, RedisBatcher
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
"""
_RETURN = """
return {allowed, wait_ms}
"""
_THEN = """
local replies = {}
if allowed == 1 then
%s
end
return {allowed, wait_ms, replies}
"""
# ARGV[4] the number of commands, then each command as its word count and words
_RUN_COMMANDS = """
  local at = 5
  for i = 1, tonumber(ARGV[4]) do
    local n = tonumber(ARGV[at])
    replies[i] = redis.call(unpack(ARGV, at + 1, at + n))
    at = at + n + 1
  end
"""
_TAKE += _RETURN
_SHA = {_TAKE: hashlib.sha1(_TAKE.encode()).hexdigest()}
_REFUSALS_KEPT = 10_000


class RateLimiter:
    """Named token buckets (``quote:ip:...``, ``swap:key:...``) under one prefix."""

    def __init__(self, batcher: RedisBatcher, prefix: str = "agg:rl") -> None:
        self.batcher = batcher
        self.prefix = prefix
        self._recorder: Pipeline | None = None
        self._refused: dict[str, tuple[float, int]] = {}
        """Bucket key -> (monotonic time a token is back, cost refused)."""
        self._scripts: dict[str, str] = {}
        """Caller snippet -> the whole script that runs it after a token is taken."""

    def check(self, scope: str, identity: str, cost: int = 1) -> None:
        """Raise :class:`RateLimitedError` if this bucket was found empty until later than now."""
        key = f"{self.prefix}:{scope}:{identity}"
        refused = self._refused.get(key)
        if refused is None:
            return
        until, refused_cost = refused
        left = until - time.monotonic()
        if left <= 0:
            del self._refused[key]
        elif cost >= refused_cost:
            raise self._error(scope, left)

    async def take(self, scope: str, identity: str, limit: RateLimit, cost: int = 1) -> None:
        """Take ``cost`` tokens from the bucket, or raise :class:`RateLimitedError`."""
        await self._run(scope, identity, limit, cost, _TAKE, ())

    async def take_then(
        self,
        scope: str,
        identity: str,
        limit: RateLimit,
        queue: Queue | Sequence[tuple[Any, ...]],
        cost: int = 1,
    ) -> list[Any]:
        """Take ``cost`` tokens and, if granted, run ``queue``'s commands in the same script
        (``queue`` queues them on a pipeline, or is the commands' words); their replies, in
        order, as the script returns them (a status reply such as SET's is ``b"OK"``, a nil
        is None).

        Raises :class:`RateLimitedError` (and runs none of them) when refused.
        """
        if callable(queue):
            # a pipeline only collects the commands (never executed); one is kept for reuse
            pipe, self._recorder = self._recorder, None
            if pipe is None:
                pipe = self.batcher.redis.pipeline(transaction=False)
            try:
                await queue(pipe)
                commands: Sequence[tuple[Any, ...]] = [args for args, _ in pipe.command_stack]
            finally:
                pipe.command_stack.clear()
                self._recorder = pipe
        else:
            commands = queue
        words: list[Any] = [len(commands)]
        for args in commands:
            words.append(len(args))
            words.extend(args)
        return await self.take_then_lua(scope, identity, limit, _RUN_COMMANDS, words, cost)

    async def take_then_lua(
        self,
        scope: str,
        identity: str,
        limit: RateLimit,
        lua: str,
        args: Sequence[Any],
        cost: int = 1,
    ) -> list[Any]:
        """:meth:`take_then` for a Lua snippet of the caller's own, run only if the token
        was granted: it reads its ``args`` from ``ARGV[4]`` on and puts what it returns
        in the table ``replies``, which is returned here.

        A snippet serves one hot operation with fewer words to send and unpack than
        the same commands given one by one.
        """
        script = self._scripts.get(lua)
        if script is None:
            script = self._scripts[lua] = _TAKE.removesuffix(_RETURN) + _THEN % lua
            _SHA[script] = hashlib.sha1(script.encode()).hexdigest()
        result = await self._run(scope, identity, limit, cost, script, args)
        return list(result[2])

    async def _run(
        self,
        scope: str,
        identity: str,
        limit: RateLimit,
        cost: int,
        script: str,
        words: Sequence[Any],
    ) -> list[Any]:
        self.check(scope, identity, cost)
        key = f"{self.prefix}:{scope}:{identity}"
        args = (key, repr(limit.rate_per_s), limit.burst, cost, *words)

        sent = time.monotonic()
        try:
            result = await self.batcher.execute("EVALSHA", _SHA[script], 1, *args)
        except NoScriptError:
            result = await self.batcher.execute("EVAL", script, 1, *args)
        allowed, wait_ms = int(result[0]), int(result[1])
        if not allowed:
            # the bucket was read after ``sent``, and wait_ms is rounded up: never later
            self._remember(key, sent + (wait_ms - 1) / 1000, cost)
            raise self._error(scope, wait_ms / 1000)
        return list(result)

    def _remember(self, key: str, until: float, cost: int) -> None:
        refused = self._refused
        if len(refused) >= _REFUSALS_KEPT:
            now = time.monotonic()
            for stale in [k for k, (until, _) in refused.items() if until <= now]:
                del refused[stale]
            if len(refused) >= _REFUSALS_KEPT:
                refused.clear()
        refused[key] = (until, cost)

    @staticmethod
    def _error(scope: str, wait_s: float) -> RateLimitedError:
        retry_after = max(1, math.ceil(wait_s))
        return RateLimitedError(
            f"too many {scope} requests; retry in {retry_after} s",
            retry_after=retry_after,
            scope=scope,
        )
