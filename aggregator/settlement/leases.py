"""Per-swap leases, so several coordinators share the swaps and never drive one twice.

A lease is ``SET key token NX PX ttl``; only the holder renews or releases it
(compare-and-renew in Lua), and every commit checks the token under WATCH
(fencing), so a coordinator that paused past its lease cannot write.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from redis.asyncio import Redis

from aggregator.settlement.keys import Keys

__all__ = ["LeaseManager"]

_RENEW = """
local lost = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  else
    table.insert(lost, i)
  end
end
return lost
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaseManager:
    """Leases held by one coordinator instance (one random token per instance)."""

    def __init__(
        self, redis: Redis, ttl_ms: int, keys: Keys | None = None, token: str | None = None
    ) -> None:
        self.redis = redis
        self.ttl_ms = ttl_ms
        self.keys = keys or Keys()
        self.token = token or secrets.token_hex(16)
        self.held: set[str] = set()

    async def acquire(self, swap_id: str) -> bool:
        """Take the swap's lease if nobody holds it."""
        ok = await self.redis.set(self.keys.lease(swap_id), self.token, nx=True, px=self.ttl_ms)
        if ok:
            self.held.add(swap_id)
        return bool(ok)

    async def acquire_many(self, swap_ids: Sequence[str]) -> list[str]:
        """Take every free lease among ``swap_ids``; returns those now held."""
        wanted = [i for i in swap_ids if i not in self.held]
        if wanted:
            async with self.redis.pipeline(transaction=False) as pipe:
                for swap_id in wanted:
                    pipe.set(self.keys.lease(swap_id), self.token, nx=True, px=self.ttl_ms)
                results = await pipe.execute()
            for swap_id, ok in zip(wanted, results, strict=True):
                if ok:
                    self.held.add(swap_id)
        return [i for i in swap_ids if i in self.held]

    async def renew(self) -> list[str]:
        """Extend every held lease; returns (and forgets) those that were lost."""
        if not self.held:
            return []
        ids = sorted(self.held)
        lost_idx = await self.redis.eval(
            _RENEW, len(ids), *[self.keys.lease(i) for i in ids], self.token, self.ttl_ms
        )
        lost = [ids[int(i) - 1] for i in lost_idx]
        self.held.difference_update(lost)
        return lost

    async def release(self, swap_id: str) -> None:
        self.held.discard(swap_id)
        await self.redis.eval(_RELEASE, 1, self.keys.lease(swap_id), self.token)

    def forget(self, swap_id: str) -> None:
        """Stop tracking a lease this instance no longer holds."""
        self.held.discard(swap_id)
