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

SCHEDULE: list[PeriodicTask] = [
    PeriodicTask("watch_redis", 1.0, redis_watch.check),
    PeriodicTask("sweep_events", 5.0, sweep_events),
    PeriodicTask("schedule_due", 1.0, delivery_jobs.schedule_due, delivery_jobs.seconds_to_next_due),
    PeriodicTask("sweep_deliveries", 5.0, delivery_jobs.sweep_deliveries),
    PeriodicTask("sync_quota", quota_jobs.SYNC_EVERY_SECONDS, quota_jobs.enqueue_quota_syncs),
    PeriodicTask("drain_clicks", 1.0, clicks.drain),  # tracked-link clicks: Redis stream → link_clicks
    PeriodicTask("apply_route_logins", 5.0, lambda: routes.apply_pending(utcnow())),  # login/follow races
    PeriodicTask("sweep_conversations", conversation_jobs.SWEEP_SECONDS, conversation_jobs.sweep_conversations),
    PeriodicTask("step_rich_menus", 5.0, conversation_jobs.sweep_step_rich_menus),
]
