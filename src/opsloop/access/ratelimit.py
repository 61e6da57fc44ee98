"""Token-bucket rate limits per principal: in memory, or shared in Redis across workers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# KEYS[1]=bucket; ARGV: rate/s, capacity, now; returns 1 if allowed.
_LUA = """
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local rate, cap, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', KEYS[1], 't', tokens, 'ts', now)
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 1)
return ok
"""


class RateLimiter(Protocol):
    def allow(self, key: str) -> bool: ...

    async def allow_async(self, key: str) -> bool:
        """:meth:`allow` for an event loop (the lean ASGI paths), never blocking it."""


@dataclass
class MemoryRateLimiter:
    """One process's buckets; fine for the embedded profile (one worker)."""

    per_second: float
    capacity: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            tokens, ts = self._buckets.get(key, (float(self.capacity), now))
            tokens = min(self.capacity, tokens + (now - ts) * self.per_second)
            ok: bool = tokens >= 1
            self._buckets[key] = (tokens - 1 if ok else tokens, now)
            return ok

    async def allow_async(self, key: str) -> bool:
        return self.allow(key)  # no I/O: a dictionary update


class RedisRateLimiter:
    """Buckets in Redis, updated atomically by a Lua script (shared by all workers)."""

    def __init__(self, url: str, *, per_second: float, capacity: int) -> None:
        import redis

        self._url = url
        self._client = redis.Redis.from_url(url)
        self._script = self._client.register_script(_LUA)
        self.per_second, self.capacity = per_second, capacity
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ascript: Any = None

    def allow(self, key: str) -> bool:
        args = [self.per_second, self.capacity, time.time()]
        return bool(self._script(keys=[f"opsloop:rl:{key}"], args=args))

    async def allow_async(self, key: str) -> bool:
        """:meth:`allow` on ``redis.asyncio``: a lean ASGI path used to block its event
        loop for a whole Redis round trip per request here."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a connection belongs to the loop that opened it
            import redis.asyncio as aredis

            pool = aredis.BlockingConnectionPool.from_url(self._url, max_connections=64)
            self._ascript = aredis.Redis(connection_pool=pool).register_script(_LUA)
            self._loop = loop
        args = [self.per_second, self.capacity, time.time()]
        return bool(await self._ascript(keys=[f"opsloop:rl:{key}"], args=args))

    def close(self) -> None:
        self._client.close()


def make_rate_limiter(redis_url: str | None, *, per_minute: float, burst: int) -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis_url, per_second=per_minute / 60, capacity=burst)
    return MemoryRateLimiter(per_second=per_minute / 60, capacity=burst)
