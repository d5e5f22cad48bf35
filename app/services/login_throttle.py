"""Login throttling (SPEC §7): 5 failures for one account or 20 from one address within 15 minutes
lock logins out (429 with Retry-After) until the oldest counted failure leaves the window.

Failures live in Redis sorted sets (score = time), so every web process sees the same counts.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable

from app.extensions import redis_handle

WINDOW_SECONDS = 15 * 60
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20
clock: Callable[[], float] = time.time  # tests move time forward through this


def _keys(login: str, address: str) -> list[tuple[str, int]]:
    return [(f"stepline:login-failures:account:{login.lower()}", ACCOUNT_LIMIT),
            (f"stepline:login-failures:address:{address}", ADDRESS_LIMIT)]


def retry_after(login: str, address: str) -> int:
    """Seconds until a login may be tried again (0: now)."""
    now, client, wait = clock(), redis_handle.client, 0.0
    for key, limit in _keys(login, address):
        client.zremrangebyscore(key, 0, now - WINDOW_SECONDS)
        entries: list[tuple[bytes, float]] = client.zrange(key, 0, -1, withscores=True)  # type: ignore[assignment]
        scores = [score for _, score in entries]
        if len(scores) >= limit:
            # the failure whose expiry brings the count back under the limit
            wait = max(wait, scores[len(scores) - limit] + WINDOW_SECONDS - now)
    return math.ceil(wait) if wait > 0 else 0


def record_failure(login: str, address: str) -> None:
    now, pipe = clock(), redis_handle.client.pipeline()
    for key, _ in _keys(login, address):
        pipe.zadd(key, {uuid.uuid4().hex: now})
        pipe.expire(key, WINDOW_SECONDS + 60)
    pipe.execute()


def forget_account(login: str) -> None:
    """A successful login clears the account's count (not the address's)."""
    redis_handle.client.delete(_keys(login, "")[0][0])
