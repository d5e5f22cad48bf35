"""RQ jobs and periodic tasks of the delivery engine: ids in, idempotent, thin over the use cases."""

from __future__ import annotations

import logging

from app.line.channels import line_client
from app.models.base import utcnow
from app.services import delivery
from app.services.sending import send_batch
from workers.queues import DELIVERIES, enqueue
from workers.runtime import boot

log = logging.getLogger(__name__)


def send_deliveries(delivery_ids: list[int]) -> dict[str, int]:
    """Send these outbox rows (those still due); running it twice sends nothing twice."""
    settings = boot()
    summary = send_batch(lambda channel: line_client(settings, channel), delivery_ids, utcnow)
    log.info("send job: %d ids -> %s", len(delivery_ids), summary.to_dict())
    return summary.to_dict()


def enqueue_send(delivery_ids: list[int]) -> bool:
    """Hand a batch of delivery ids to a worker (False when Redis is down: the sweep retries)."""
    return enqueue(DELIVERIES, send_deliveries, list(delivery_ids))


def schedule_due() -> int:
    """Scheduler task (every second): claim due enrollments into the outbox and enqueue their sends."""
    boot()
    return delivery.schedule_due(utcnow(), enqueue_send)


def seconds_to_next_due() -> float | None:
    """How long until the next step falls due (None: nothing scheduled), for the scheduler's sleep."""
    boot()
    return delivery.seconds_to_next_due(utcnow())


def sweep_deliveries() -> int:
    """Scheduler task (every 5 s): re-enqueue lost, retry-due and quota-resumed deliveries."""
    boot()
    return delivery.sweep(utcnow(), enqueue_send)


def sweep_lost_deliveries() -> int:
    """After Redis lost its jobs: re-enqueue at once every open delivery handed to Redis before now."""
    boot()
    return delivery.sweep_lost(utcnow(), enqueue_send)
