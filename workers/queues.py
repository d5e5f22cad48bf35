"""The one registry of RQ queues; every enqueue goes through :func:`enqueue`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from app.extensions import redis_handle

log = logging.getLogger(__name__)

EVENTS = "events"  # webhook events: latency matters, LINE is waiting for the friend's answer
DELIVERIES = "deliveries"  # scheduled pushes
DEFAULT = "default"  # admin work: audience enrollment, test sends
ALL_QUEUES = (EVENTS, DELIVERIES, DEFAULT)  # also the worker's priority order


_queues: dict[tuple[str, int], Queue] = {}
_last_failure_at = 0.0  # when Redis last refused work of this process (workers.redis_watch sweeps then)


def note_failure() -> None:
    """Remember that a hand-over to Redis failed just now (work whose job may not exist)."""
    global _last_failure_at
    _last_failure_at = time.time()


def last_failure_at() -> float:
    """Wall-clock seconds of this process's latest failed hand-over to Redis (0: none)."""
    return _last_failure_at


def get_queue(name: str, connection: Redis | None = None) -> Queue:
    """The RQ queue called ``name`` on the configured Redis (cached per connection: hot path)."""
    if name not in ALL_QUEUES:
        raise ValueError(f"unknown queue {name!r}; known: {', '.join(ALL_QUEUES)}")
    connection = connection or redis_handle.client
    key = (name, id(connection))
    queue = _queues.get(key)
    if queue is None or queue.connection is not connection:
        queue = _queues[key] = Queue(name, connection=connection)
    return queue


def enqueue(name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Enqueue ``func(*args)``; False (logged) if Redis is down — callers rely on a sweep then."""
    try:
        get_queue(name).enqueue_call(
            func, args=args, kwargs=kwargs or None, result_ttl=0, failure_ttl=7 * 86400, timeout=600
        )
    except (RedisError, OSError) as exc:
        note_failure()
        log.warning("enqueue on %s failed (%s); the sweep will pick the work up", name, type(exc).__name__)
        return False
    return True
