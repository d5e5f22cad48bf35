"""The scheduler's heartbeat in Redis: written every tick, read by /metrics and the dashboard."""

from __future__ import annotations

import time

from app.extensions import redis_handle

SCHEDULER_HEARTBEAT_KEY = "stepline:scheduler:heartbeat"


def beat() -> None:
    """Record that a scheduler tick just ran (kept an hour; absent means no scheduler ran lately)."""
    redis_handle.client.set(SCHEDULER_HEARTBEAT_KEY, f"{time.time():.3f}", ex=3600)


def age_seconds() -> float | None:
    """Seconds since the last tick, or None when no scheduler has ticked within the hour."""
    raw = redis_handle.client.get(SCHEDULER_HEARTBEAT_KEY)
    return None if raw is None else max(0.0, time.time() - float(raw))
