"""Notice that Redis lost its jobs (it restarted, or this process could not reach it) and sweep at once.

Redis only carries work in flight: after a restart every queued job is gone while the database
still knows the work. The regular sweeps find it again only after their grace periods (30 s for
deliveries, 10 s for events). The scheduler checks every tick whether Redis is the server it saw
before (``run_id`` from ``INFO``, remembered in Redis itself so a restarted scheduler or a second
one agrees) and whether its own Redis calls failed since the last check; either way the jobs
handed over before now may be lost, so one scheduler (a short ``SET NX`` lock) sweeps deliveries
and ledger events at once, taking every row enqueued before now as lost. Re-enqueuing a row whose
job did survive is harmless: the second job finds it no longer due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from app.extensions import redis_handle
from workers import queues

log = logging.getLogger(__name__)

RUN_ID_KEY = "stepline:redis:run-id"  # the run_id of the Redis server the schedulers last saw
RECOVERY_LOCK_KEY = "stepline:redis:recovery-sweep"
RECOVERY_LOCK_SECONDS = 5  # one scheduler sweeps per recovery; a crashed sweeper's lock soon lapses


@dataclass
class RedisWatch:
    """One per scheduler process; ``check`` is its periodic task."""

    recover: Callable[[], object]
    client: Callable[[], Redis] = lambda: redis_handle.client
    run_id: str | None = None  # the server this process saw last (None: not yet seen)
    failures_seen: int = 0
    unreachable: bool = False

    def check(self) -> bool:
        """True when Redis lost (or may have lost) jobs since the last check and this process swept."""
        failures = queues.failures()
        try:
            client = self.client()
            run_id = str(client.info("server")["run_id"])
            restarted = run_id != self.run_id and _stored_run_id(client, run_id) != run_id
            lost = restarted or self.unreachable or failures != self.failures_seen
            if lost and not client.set(RECOVERY_LOCK_KEY, run_id, nx=True, ex=RECOVERY_LOCK_SECONDS):
                lost = False  # another scheduler is sweeping for this recovery
        except (RedisError, OSError):
            self.unreachable = True
            return False
        self.run_id, self.failures_seen, self.unreachable = run_id, failures, False
        if not lost:
            return False
        log.warning("Redis %s: sweeping deliveries and events at once",
                    "restarted (new run_id)" if restarted else "is back after an outage")
        self.recover()
        return True


def _stored_run_id(client: Redis, run_id: str) -> str | None:
    """Remember ``run_id`` as the server's; the one remembered before (None on an empty Redis)."""
    previous = client.set(RUN_ID_KEY, run_id, get=True)
    if isinstance(previous, bytes):
        return previous.decode()
    return previous if isinstance(previous, str) else None
