"""Quota jobs and periodic tasks: sync each channel with LINE, resume held deliveries."""

from __future__ import annotations

import logging
from typing import Any

from app.models.base import utcnow
from app.quota import holding, tracker
from app.services.line_edge import line_client
from workers.queues import DEFAULT, enqueue
from workers.runtime import boot

log = logging.getLogger(__name__)

SYNC_EVERY_SECONDS = 60.0
RESUME_EVERY_SECONDS = 5.0


def sync_quota(channel: str) -> dict[str, Any]:
    """Reconcile one channel's month with LINE's quota and consumption APIs."""
    settings = boot()
    status = tracker.sync(channel, line_client(settings, channel), utcnow())
    log.info("quota sync %s: %s/%s used, exhausted=%s", channel, status.used, status.limit, status.exhausted)
    return status.as_dict()


def enqueue_quota_syncs() -> int:
    """Scheduler task: one sync job per configured channel (LINE calls stay out of the scheduler loop)."""
    settings = boot()
    return sum(enqueue(DEFAULT, sync_quota, name) for name in sorted(settings.channels))


def resume_held_deliveries() -> int:
    """Scheduler task: queue held deliveries again when quota returned, and hand them to senders."""
    boot()
    ids = holding.resume_held(utcnow())
    if ids:
        from app.delivery.scheduler import enqueue_in_jobs
        from workers.delivery_jobs import enqueue_send

        jobs = enqueue_in_jobs(ids, enqueue_send)
        log.info("resumed %d held deliveries in %d send jobs", len(ids), jobs)
    return len(ids)
