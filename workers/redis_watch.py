"""Notice that Redis lost jobs (it restarted, or this process could not reach it) and sweep at once.

Redis only carries work in flight: after a restart every queued job is gone while the database
still knows the work, and the regular sweeps find it only after their grace periods (30 s for
deliveries, 10 s for events). The scheduler checks every tick whether Redis is the server it saw
before (``run_id`` from ``INFO``, remembered in Redis itself so a restarted or second scheduler
agrees), whether Redis was unreachable at the last check and whether a hand-over of its own failed
since. Any of these is a loss: work handed over before that moment may have no job. One scheduler
(a short ``SET NX`` lock) then sweeps deliveries and ledger events at once, taking every row handed
over before the sweep began as lost, and stores when it began; a scheduler whose loss is older
than that knows it is covered. Re-enqueuing a row whose job did survive is harmless: the second
job finds the row no longer due.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from app.extensions import redis_handle
from workers import queues

log = logging.getLogger(__name__)

RUN_ID_KEY = "stepline:redis:run-id"  # the run_id of the Redis server the schedulers last saw
SWEPT_AT_KEY = "stepline:redis:recovery-swept-at"  # when the last recovery sweep began (epoch seconds)
LOCK_KEY = "stepline:redis:recovery-sweep"
LOCK_SECONDS = 30  # held while one scheduler sweeps; a crashed sweeper's lock lapses


@dataclass
class RedisWatch:
    """One per scheduler process; ``check`` is its periodic task (every tick)."""

    recover: Callable[[], object]
    client: Callable[[], Redis] = lambda: redis_handle.client
    run_id: str | None = None  # the server this process saw last (None: none yet)
    unreachable_at: float | None = None  # when the last check found Redis unreachable (None: it answered)
    failure_seen_at: float = 0.0  # the latest failed hand-over already accounted for
    lost_at: float | None = None  # the latest loss not yet covered by a recovery sweep

    def check(self) -> bool:
        """True when this process swept because Redis lost (or may have lost) jobs."""
        try:
            return self._check(self.client())
        except (RedisError, OSError):
            self.unreachable_at = time.time()
            return False

    def _check(self, client: Redis) -> bool:
        now = time.time()
        run_id = str(client.info("server")["run_id"])
        restarted = run_id != self.run_id and _remember_run_id(client, run_id) != run_id
        failed_at = queues.last_failure_at()
        if restarted:
            self._lost(now)  # every job handed to the previous server is gone
        if self.unreachable_at is not None:
            self._lost(self.unreachable_at)  # hand-overs up to then may have failed
        if failed_at > self.failure_seen_at:
            self._lost(failed_at)
        self.run_id, self.unreachable_at, self.failure_seen_at = run_id, None, failed_at
        if self.lost_at is None:
            return False
        swept_at = client.get(SWEPT_AT_KEY)
        if swept_at is not None and float(swept_at) >= self.lost_at:
            self.lost_at = None  # another scheduler's sweep began after this loss
            return False
        if not client.set(LOCK_KEY, str(now), nx=True, ex=LOCK_SECONDS):
            return False  # another scheduler is sweeping: look again at the next check
        log.warning("Redis %s: sweeping deliveries and events at once",
                    "restarted (new run_id)" if restarted else "lost work of this process")
        try:
            self.recover()
        finally:
            client.delete(LOCK_KEY)
        client.set(SWEPT_AT_KEY, repr(now))
        self.lost_at = None
        return True

    def _lost(self, at: float) -> None:
        self.lost_at = at if self.lost_at is None else max(self.lost_at, at)


def _remember_run_id(client: Redis, run_id: str) -> str | None:
    """Store ``run_id`` as the server's; the one stored before (None on an empty Redis)."""
    previous = client.set(RUN_ID_KEY, run_id, get=True)
    if isinstance(previous, bytes):
        return previous.decode()
    return previous if isinstance(previous, str) else None
