"""Every periodic task of the scheduler process, in one list (name, interval in seconds, task)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from app.models.base import utcnow
from app.services import clicks, events, routes
from workers import conversation_jobs, delivery_jobs, event_jobs, quota_jobs
from workers.redis_watch import RedisWatch

log = logging.getLogger(__name__)

EVENT_SWEEP_GRACE = timedelta(seconds=10)  # a job enqueued by the webhook normally runs well before this


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    every_seconds: float
    run: Callable[[], object]
    # seconds until the task next has work (None: nothing known), to wake before the next tick
    next_work_in: Callable[[], float | None] | None = None


def sweep_events(grace_seconds: float = EVENT_SWEEP_GRACE.total_seconds()) -> int:
    """Re-signal friends whose events were stored but never processed (Redis was down, job lost)."""
    return events.sweep_pending(utcnow() - timedelta(seconds=grace_seconds), event_jobs.signal_friends)


def recover_lost_jobs() -> None:
    """Redis lost its jobs (restart, outage): deliveries and ledger events handed to it go again now."""
    delivery_jobs.sweep_lost_deliveries()
    sweep_events(grace_seconds=0)


redis_watch = RedisWatch(recover_lost_jobs)


class WhileBusy:
    """A task run again after ``busy_seconds`` while it finds work, else at its interval.

    Clicks come in a burst after a multicast: one drain a second wrote ~2,000 of them in one go,
    and that burst of database work beside the web tier answering the clicks made the redirects'
    p99 8 ms → 160 ms (``bench.clicks``); small drains every 0.2 s spread it.
    """

    def __init__(self, run: Callable[[], int], busy_seconds: float) -> None:
        self._run = run
        self.busy_seconds = busy_seconds
        self.busy = False

    def run(self) -> int:
        self.busy = False
        done = self._run()
        self.busy = done > 0
        return done

    def next_work_in(self) -> float | None:
        return self.busy_seconds if self.busy else None


click_drain = WhileBusy(clicks.drain, busy_seconds=0.2)

SCHEDULE: list[PeriodicTask] = [
    PeriodicTask("watch_redis", 1.0, redis_watch.check),
    PeriodicTask("sweep_events", 5.0, sweep_events),
    PeriodicTask("schedule_due", 1.0, delivery_jobs.schedule_due, delivery_jobs.seconds_to_next_due),
    PeriodicTask("sweep_deliveries", 5.0, delivery_jobs.sweep_deliveries),
    PeriodicTask("sync_quota", quota_jobs.SYNC_EVERY_SECONDS, quota_jobs.enqueue_quota_syncs),
    # tracked-link clicks: Redis stream → link_clicks
    PeriodicTask("drain_clicks", 1.0, click_drain.run, click_drain.next_work_in),
    PeriodicTask("apply_route_logins", 5.0, lambda: routes.apply_pending(utcnow())),  # login/follow races
    PeriodicTask("sweep_conversations", conversation_jobs.SWEEP_SECONDS, conversation_jobs.sweep_conversations),
    PeriodicTask("step_rich_menus", 5.0, conversation_jobs.sweep_step_rich_menus),
]
