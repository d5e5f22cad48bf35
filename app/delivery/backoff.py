"""Retry timing for LINE calls that may succeed later (rate limit, 5xx, timeouts)."""

from __future__ import annotations

import random
from datetime import timedelta

BASE_SECONDS = 1.0
CAP_SECONDS = 60.0
MAX_ATTEMPTS = 15  # ~10 min of capped retries; well inside the 24 h a retry key is remembered


def backoff_delay(attempts: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> timedelta:
    """Delay before attempt ``attempts + 1``: exponential with "equal jitter", capped, never below Retry-After.

    Half the window is fixed so a crowd of workers does not retry in lock-step, and none retries
    at once after a 429.
    """
    window = min(CAP_SECONDS, BASE_SECONDS * 2 ** max(0, attempts - 1))
    delay = window / 2 + (rng or random).uniform(0, window / 2)
    if retry_after is not None and retry_after > delay:
        delay = min(float(retry_after), CAP_SECONDS * 10)
    return timedelta(seconds=delay)


def gives_up(attempts: int) -> bool:
    """True when a delivery has been tried often enough to mark it failed for an admin to look at."""
    return attempts >= MAX_ATTEMPTS
