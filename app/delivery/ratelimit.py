"""One rate limiter for every worker: a GCRA token bucket kept in Redis, per channel and endpoint.

Each call reserves its slot atomically (one Lua script, Redis's clock) and is told how long to
wait for it, so N workers together stay under LINE's per-channel limits without coordination.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.exceptions import RedisError

from app.line.limits import MULTICAST_RATE, PUSH_RATE

log = logging.getLogger(__name__)

HEADROOM = 0.95  # replies and profile lookups share LINE's push bucket; keep room for them
BURST_SECONDS = 0.1  # slack allowed ahead of the steady pace (LINE's bucket holds one second)
RATES: dict[str, float] = {"push": PUSH_RATE * HEADROOM, "multicast": MULTICAST_RATE * HEADROOM}
KEY_PREFIX = "stepline:ratelimit"

# KEYS[1]: the bucket's theoretical arrival time (µs). ARGV: interval µs, tolerance µs, n.
# Returns the µs the caller must wait before its n requests conform.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + n * interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 2000)
local wait = new_tat - interval - tolerance - now
if wait < 0 then wait = 0 end
return wait
"""


class RateLimiter:
    """``acquire`` blocks until this process may send ``n`` requests to ``endpoint`` of ``channel``."""

    def __init__(self, client: redis.Redis, rates: dict[str, float] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.rates = dict(rates or RATES)
        self.sleep = sleep
        self._script = client.register_script(_GCRA)
        self._local_lock = threading.Lock()

    def reserve(self, channel: str, endpoint: str, n: int = 1) -> float:
        """Take ``n`` slots now; the seconds to wait before using them (no sleeping here)."""
        rate = self.rates[endpoint]
        interval = 1_000_000 / rate
        tolerance = rate * BURST_SECONDS * interval
        waited = self._script(keys=[f"{KEY_PREFIX}:{channel}:{endpoint}"],
                              args=[f"{interval:.3f}", f"{tolerance:.3f}", n])
        return float(waited) / 1_000_000

    def schedule(self, channel: str, endpoint: str, n: int) -> list[float]:
        """Reserve ``n`` slots in one round trip; each request's delay (seconds from now), in order.

        Request i of n may go ``(n - 1 - i)`` intervals before the last one, so a batch is paced
        evenly instead of waiting for its last slot. Without Redis: this process's own pace.
        """
        if n <= 0:
            return []
        interval = 1 / self.rates[endpoint]
        try:
            last = self.reserve(channel, endpoint, n)
        except RedisError as exc:
            log.warning("rate limiter unavailable (%s): pacing %s/%s locally", type(exc).__name__, channel, endpoint)
            return [i * interval for i in range(n)]
        return [max(0.0, last - (n - 1 - i) * interval) for i in range(n)]

    def acquire(self, channel: str, endpoint: str, n: int = 1) -> float:
        """Block until allowed; returns the seconds waited. Without Redis, pace this process alone."""
        try:
            wait = self.reserve(channel, endpoint, n)
        except RedisError as exc:
            log.warning("rate limiter unavailable (%s): pacing %s/%s locally", type(exc).__name__, channel, endpoint)
            with self._local_lock:
                wait = n / self.rates[endpoint]
                self.sleep(wait)
            return wait
        if wait > 0:
            self.sleep(wait)
        return wait
