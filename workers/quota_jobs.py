"""Quota jobs: sync each channel with LINE (held deliveries resume in the outbox sweep)."""

from __future__ import annotations

import logging
from typing import Any

from app.line.channels import line_client
from app.models.base import utcnow
from app.services import quota
from workers.queues import DEFAULT, enqueue
from workers.runtime import boot

log = logging.getLogger(__name__)

SYNC_EVERY_SECONDS = 60.0


def sync_quota(channel: str) -> dict[str, Any]:
    """Reconcile one channel's month with LINE's quota and consumption APIs."""
    settings = boot()
    status = quota.sync_channel(channel, line_client(settings, channel), utcnow())
    log.info("quota sync %s: %s/%s used, exhausted=%s", channel, status.used, status.limit, status.exhausted)
    return status.to_dict()


def enqueue_quota_syncs() -> int:
    """Scheduler task: one sync job per configured channel (LINE calls stay out of the scheduler loop)."""
    settings = boot()
    return sum(enqueue(DEFAULT, sync_quota, name) for name in sorted(settings.channels))
