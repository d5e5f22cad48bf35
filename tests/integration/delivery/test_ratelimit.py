"""The shared rate limiter keeps several workers together under one channel's limit."""

from __future__ import annotations

import threading
import time

import redis

from app.delivery.ratelimit import RateLimiter


def test_burst_then_steady_pace(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    limiter = RateLimiter(client, rates={"push": 1000})
    before = _redis_seconds(client)
    waits = [limiter.reserve("default", "push") for _ in range(50)]
    assert waits == [0.0] * 50  # up to 0.1 s of burst
    # 250 more in one call: the 300th slot is 0.3 s after the first call, less one interval and the
    # burst, less however long the calls took (bounded by Redis's own clock: no flaky timing).
    last = limiter.reserve("default", "push", 250)
    took = _redis_seconds(client) - before
    assert 0.199 - took - 1e-5 <= last <= 0.199 + 1e-5  # then 1 ms per request


def _redis_seconds(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1_000_000


def test_many_workers_share_one_budget(redis_url: str) -> None:
    rate, workers, each = 500.0, 4, 100
    started = time.monotonic()

    def work() -> None:
        limiter = RateLimiter(redis.Redis.from_url(redis_url), rates={"push": rate})
        for _ in range(each):
            limiter.acquire("default", "push")

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    expected = (workers * each - rate * 0.1) / rate  # 400 requests at 500/s after a 50-request burst
    assert expected * 0.9 <= elapsed <= expected + 1.0  # never faster; slower only by scheduling


def test_channels_and_endpoints_have_separate_buckets(redis_url: str) -> None:
    limiter = RateLimiter(redis.Redis.from_url(redis_url), rates={"push": 10, "multicast": 10})
    for _ in range(5):
        limiter.reserve("default", "push")
    assert limiter.reserve("shop", "push") == 0.0
    assert limiter.reserve("default", "multicast") == 0.0


def test_schedule_spreads_a_batch_over_its_slots(redis_url: str) -> None:
    limiter = RateLimiter(redis.Redis.from_url(redis_url), rates={"multicast": 100})
    delays = limiter.schedule("default", "multicast", 30)
    assert delays[:10] == [0.0] * 10  # inside the 0.1 s burst
    assert all(later >= earlier for earlier, later in zip(delays, delays[1:], strict=False))
    assert 0.18 <= delays[-1] <= 0.2  # 30 requests at 100/s after an 11-request burst
