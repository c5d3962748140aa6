"""Rate-limit buckets in Redis, shared by every gateway replica (``STRATA_REDIS_URL``).

The algorithm is :mod:`model_layer.tenancy.buckets`' one, run as a Lua script so that read, refill
and take are one atomic step on the server, and timed by Redis' own clock (``TIME``) so replicas
with drifting clocks agree. A tenant's hash expires once both of its buckets would be full again,
which is the same as having no state, so idle tenants cost no memory.
"""

from __future__ import annotations

import redis.asyncio as redis_async
from redis.exceptions import RedisError

from model_layer.errors import ServiceUnavailableException
from model_layer.tenancy.buckets import ALLOWED, Decision, Limits

KEY_PREFIX = "strata:ratelimit:"

# KEYS[1] the tenant's hash; ARGV: requests/min (0 = none), tokens/min (0 = none),
# 'acquire' | 'consume', tokens to consume. Returns {allowed 0|1, retry-after seconds, limit}.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local ttl = 1
local need = 1 - 1e-9  -- float slack: waiting exactly the retry-after is enough
local function level(name, cap)
  local v = redis.call('HMGET', KEYS[1], name .. ':level', name .. ':at')
  if not v[1] then return cap end
  local elapsed = math.max(0, now - tonumber(v[2]))
  return math.min(cap, tonumber(v[1]) + elapsed * cap / 60)
end
local function store(name, value, cap)
  redis.call('HSET', KEYS[1], name .. ':level', tostring(value), name .. ':at', tostring(now))
  ttl = math.max(ttl, math.ceil((cap - value) * 60 / cap) + 1)
end
local function keep_ttl(name, cap)
  local v = redis.call('HGET', KEYS[1], name .. ':level')
  if v then ttl = math.max(ttl, math.ceil((cap - level(name, cap)) * 60 / cap) + 1) end
end
if ARGV[3] == 'consume' then
  if tpm > 0 then
    store('tok', level('tok', tpm) - tonumber(ARGV[4]), tpm)
    if rpm > 0 then keep_ttl('req', rpm) end
    redis.call('EXPIRE', KEYS[1], ttl)
  end
  return {1, '0', ''}
end
if tpm > 0 then
  local tok = level('tok', tpm)
  if tok < need then return {0, tostring((1 - tok) * 60 / tpm), 'tokens'} end
end
if rpm > 0 then
  local req = level('req', rpm)
  if req < need then return {0, tostring((1 - req) * 60 / rpm), 'requests'} end
  store('req', req - 1, rpm)
  if tpm > 0 then keep_ttl('tok', tpm) end
  redis.call('EXPIRE', KEYS[1], ttl)
end
return {1, '0', ''}
"""


class RedisBuckets:
    """:class:`~model_layer.tenancy.buckets.BucketStore` on a Redis server."""

    def __init__(self, url: str):
        self.url = url
        self._client = redis_async.Redis.from_url(url)
        self._script = self._client.register_script(_SCRIPT)

    async def _run(self, key: str, limits: Limits, mode: str, tokens: int = 0) -> list:
        args = [limits.requests_per_minute or 0, limits.tokens_per_minute or 0, mode, tokens]
        try:
            return await self._script(keys=[KEY_PREFIX + key], args=args)
        except RedisError as exc:
            # Fail closed and say why: silently dropping limits would let one tenant starve others.
            raise ServiceUnavailableException(f"rate-limit store unavailable: {exc}") from exc

    async def acquire(self, key: str, limits: Limits) -> Decision:
        if limits.unlimited:
            return ALLOWED
        allowed, retry_after, limit = await self._run(key, limits, "acquire")
        if int(allowed):
            return ALLOWED
        return Decision(False, float(retry_after), limit.decode() if isinstance(limit, bytes) else limit)

    async def consume_tokens(self, key: str, limits: Limits, tokens: int) -> None:
        if limits.tokens_per_minute and tokens > 0:
            await self._run(key, limits, "consume", tokens)

    async def ping(self) -> bool:
        return bool(await self._client.ping())

    async def aclose(self) -> None:
        await self._client.aclose()
