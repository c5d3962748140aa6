"""Rate-limit buckets in Redis, shared by every gateway replica (``STRATA_REDIS_URL``).

The algorithm is :mod:`model_layer.tenancy.buckets`' one, run as a Lua script so that reading,
refilling, checking every scope and taking from all of them is one atomic step on the server,
timed by Redis' own clock (``TIME``) so replicas with drifting clocks agree. A scope's hash
expires once its buckets would be full again, which is the same as having no state, so idle
tenants cost no memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as redis_async
from redis.exceptions import RedisError

from model_layer.errors import ServiceUnavailableException
from model_layer.tenancy.buckets import ALLOWED, Decision, Scope

KEY_PREFIX = "strata:ratelimit:"

# KEYS: one hash per scope. ARGV[1] 'reserve' | 'settle', ARGV[2] tokens (reserve) or refund
# (settle), then per scope: requests/min, tokens/min (0 = none).
# Returns {allowed 0|1, retry-after seconds, limit, index of the refusing scope (1-based)}.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local mode, amount = ARGV[1], tonumber(ARGV[2])
local slack = 1e-9
local function level(key, name, cap)
  local v = redis.call('HMGET', key, name .. ':level', name .. ':at')
  if not v[1] then return cap end
  return math.min(cap, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * cap / 60)
end
local function store(key, name, value, cap)
  redis.call('HSET', key, name .. ':level', tostring(value), name .. ':at', tostring(now))
  local ttl = math.ceil((cap - value) * 60 / cap) + 1
  if redis.call('TTL', key) < ttl then redis.call('EXPIRE', key, ttl) end
end
if mode == 'settle' then
  for i, key in ipairs(KEYS) do
    local tpm = tonumber(ARGV[2 + 2 * i])
    if tpm > 0 then store(key, 'tok', math.min(tpm, level(key, 'tok', tpm) + amount), tpm) end
  end
  return {1, '0', '', 0}
end
local takes = {}
for i, key in ipairs(KEYS) do
  local rpm, tpm = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  if tpm > 0 then
    local tok = level(key, 'tok', tpm)
    local need = math.max(1, math.min(amount, tpm))
    if tok < need - slack then return {0, tostring((need - tok) * 60 / tpm), 'tokens', i} end
    table.insert(takes, {key, 'tok', tok - amount, tpm})
  end
  if rpm > 0 then
    local req = level(key, 'req', rpm)
    if req < 1 - slack then return {0, tostring((1 - req) * 60 / rpm), 'requests', i} end
    table.insert(takes, {key, 'req', req - 1, rpm})
  end
end
for _, take in ipairs(takes) do store(take[1], take[2], take[3], take[4]) end
return {1, '0', '', 0}
"""


class RedisBuckets:
    """:class:`~model_layer.tenancy.buckets.BucketStore` on a Redis server."""

    def __init__(self, url: str):
        self.url = url
        self._client = redis_async.Redis.from_url(url)
        self._script = self._client.register_script(_SCRIPT)

    async def _run(self, scopes: Sequence[Scope], mode: str, amount: int) -> list:
        args: list[object] = [mode, amount]
        for scope in scopes:
            args += [scope.limits.requests_per_minute or 0, scope.limits.tokens_per_minute or 0]
        try:
            return await self._script(keys=[KEY_PREFIX + s.key for s in scopes], args=args)
        except RedisError as exc:
            # Fail closed and say so: silently dropping limits would let one tenant starve others.
            raise ServiceUnavailableException("The rate-limit store is unavailable; retry shortly.") from exc

    async def reserve(self, scopes: Sequence[Scope], tokens: int) -> Decision:
        scopes = [s for s in scopes if not s.limits.unlimited]
        if not scopes:
            return ALLOWED
        allowed, retry_after, limit, index = await self._run(scopes, "reserve", tokens)
        if int(allowed):
            return ALLOWED
        name = limit.decode() if isinstance(limit, bytes) else limit
        return Decision(False, float(retry_after), name, scopes[int(index) - 1].key)

    async def settle(self, scopes: Sequence[Scope], refund: int) -> None:
        scopes = [s for s in scopes if s.limits.tokens_per_minute]
        if scopes and refund:
            await self._run(scopes, "settle", refund)

    async def ping(self) -> bool:
        return bool(await self._client.ping())

    async def aclose(self) -> None:
        await self._client.aclose()
