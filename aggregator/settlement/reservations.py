"""Inventory reservations behind firm quotes, in Redis, reserved all-or-nothing in Lua.

Amounts are base-unit integers that do not fit Redis's 64-bit counters (one
WETH is 10**18), nor Lua's doubles, so they are stored as decimal strings and
the scripts add, subtract and compare them digit by digit: exact, always.

Layout under ``prefix``: ``:capacity`` (HASH asset@location -> holdings),
``:reserved`` (HASH asset@location -> reserved), ``:quote:<id>`` (HASH of one
quote's amounts), ``:expiry`` (ZSET quote id -> expiry ns). Every call first
releases the reservations whose quotes have expired.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from aggregator.models.assets import AssetAt
from aggregator.models.units import now_ns

__all__ = ["RedisReservationStore", "asset_key"]

_BIGINT = """
local function cmp(a, b)
  if #a ~= #b then return (#a < #b) and -1 or 1 end
  if a == b then return 0 end
  return (a < b) and -1 or 1
end
local function add(a, b)
  local out, carry, i, j = {}, 0, #a, #b
  while i > 0 or j > 0 or carry > 0 do
    local d = carry
    if i > 0 then d = d + tonumber(string.sub(a, i, i)) end
    if j > 0 then d = d + tonumber(string.sub(b, j, j)) end
    table.insert(out, 1, tostring(d % 10))
    carry = math.floor(d / 10)
    i, j = i - 1, j - 1
  end
  local s = table.concat(out):gsub('^0+', '')
  return s == '' and '0' or s
end
local function sub(a, b)  -- a >= b
  local out, borrow, i, j = {}, 0, #a, #b
  while i > 0 do
    local d = tonumber(string.sub(a, i, i)) - borrow
    if j > 0 then d = d - tonumber(string.sub(b, j, j)) end
    if d < 0 then d = d + 10; borrow = 1 else borrow = 0 end
    table.insert(out, 1, tostring(d))
    i, j = i - 1, j - 1
  end
  local s = table.concat(out):gsub('^0+', '')
  return s == '' and '0' or s
end
local function get(key, field)
  local v = redis.call('HGET', key, field)
  if not v then return '0' end
  return v
end
local function unreserve(prefix, id)
  local qkey = prefix .. ':quote:' .. id
  local fields = redis.call('HGETALL', qkey)
  for k = 1, #fields, 2 do
    local cur = get(prefix .. ':reserved', fields[k])
    local amt = fields[k + 1]
    local left = '0'
    if cmp(cur, amt) > 0 then left = sub(cur, amt) end
    redis.call('HSET', prefix .. ':reserved', fields[k], left)
  end
  redis.call('DEL', qkey)
  redis.call('ZREM', prefix .. ':expiry', id)
end
local function purge(prefix, now)
  local ids = redis.call('ZRANGEBYSCORE', prefix .. ':expiry', '-inf', now)
  for _, id in ipairs(ids) do unreserve(prefix, id) end
end
"""

# ARGV: prefix, now, quote id, expires, n, field1, amount1, ...
_RESERVE = (
    _BIGINT
    + """
local prefix, now, id, expires, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
purge(prefix, now)
if redis.call('EXISTS', prefix .. ':quote:' .. id) == 1 then return 0 end
for k = 0, n - 1 do
  local field, amount = ARGV[6 + 2 * k], ARGV[7 + 2 * k]
  local cap, res = get(prefix .. ':capacity', field), get(prefix .. ':reserved', field)
  if cmp(cap, res) < 0 or cmp(sub(cap, res), amount) < 0 then return 0 end
end
for k = 0, n - 1 do
  local field, amount = ARGV[6 + 2 * k], ARGV[7 + 2 * k]
  redis.call('HSET', prefix .. ':reserved', field, add(get(prefix .. ':reserved', field), amount))
  redis.call('HSET', prefix .. ':quote:' .. id, field, amount)
end
redis.call('ZADD', prefix .. ':expiry', expires, id)
return 1
"""
)

# ARGV: prefix, now, quote id
_RELEASE = (
    _BIGINT
    + """
purge(ARGV[1], ARGV[2])
unreserve(ARGV[1], ARGV[3])
return 1
"""
)

# ARGV: prefix, now, field
_AVAILABLE = (
    _BIGINT
    + """
local prefix = ARGV[1]
purge(prefix, ARGV[2])
local cap, res = get(prefix .. ':capacity', ARGV[3]), get(prefix .. ':reserved', ARGV[3])
if cmp(cap, res) <= 0 then return {'0', res} end
return {sub(cap, res), res}
"""
)


def asset_key(asset_at: AssetAt) -> str:
    """Hash field of an asset at a location, e.g. ``USDC@alpha``."""
    return f"{asset_at.asset}@{asset_at.location.key}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisReservationStore:
    """The reservation store shared by every quote worker (see the module docstring).

    ``reserve`` takes every amount or none of them; ``release`` gives a quote's
    back; reservations of expired quotes are released on the next call.
    """

    def __init__(self, redis: Redis, prefix: str = "resv") -> None:
        self.redis = redis
        self.prefix = prefix

    async def set_inventory(self, holdings: Mapping[AssetAt, int]) -> None:
        """Set the holdings reservations draw on (e.g. the resolver's balances)."""
        if holdings:
            mapping: dict[Any, Any] = {asset_key(a): str(int(v)) for a, v in holdings.items()}
            await self.redis.hset(f"{self.prefix}:capacity", mapping=mapping)

    async def reserve(self, quote_id: str, amounts: Mapping[AssetAt, int], expires_ns: int) -> bool:
        """Reserve every amount for ``quote_id`` until ``expires_ns``, or nothing."""
        args: list[str] = []
        for asset_at, amount in amounts.items():
            if amount < 0:
                raise ValueError("a negative reservation")
            args += [asset_key(asset_at), str(int(amount))]
        result = await self.redis.eval(
            _RESERVE,
            0,
            self.prefix,
            str(now_ns()),
            quote_id,
            str(expires_ns),
            str(len(amounts)),
            *args,
        )
        return int(result) == 1

    async def release(self, quote_id: str) -> None:
        await self.redis.eval(_RELEASE, 0, self.prefix, str(now_ns()), quote_id)

    async def _both(self, asset_at: AssetAt) -> tuple[int, int]:
        free, held = await self.redis.eval(
            _AVAILABLE, 0, self.prefix, str(now_ns()), asset_key(asset_at)
        )
        return int(_text(free)), int(_text(held))

    async def reserved(self, asset_at: AssetAt) -> int:
        return (await self._both(asset_at))[1]

    async def available(self, asset_at: AssetAt) -> int:
        return (await self._both(asset_at))[0]
