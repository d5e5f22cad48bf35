"""RQ jobs and periodic tasks of the delivery engine: ids in, idempotent, thin over app.delivery."""

from __future__ import annotations

import logging

from app.delivery import outbox, scheduler
from app.delivery.sender import send_batch
from app.extensions import db
from app.models.base import utcnow
from app.services.line_edge import line_client
from workers.queues import DELIVERIES, enqueue
from workers.runtime import boot

log = logging.getLogger(__name__)


def send_deliveries(delivery_ids: list[int]) -> dict[str, int]:
    """Send these outbox rows (those still due); running it twice sends nothing twice."""
    settings = boot()
    summary = send_batch(lambda channel: line_client(settings, channel), delivery_ids, utcnow)
    log.info("send job: %d ids -> %s", len(delivery_ids), summary.as_dict())
    return summary.as_dict()


def enqueue_send(delivery_ids: list[int]) -> bool:
    """Hand a batch of delivery ids to a worker (False when Redis is down: the sweep retries)."""
    return enqueue(DELIVERIES, send_deliveries, list(delivery_ids))


def schedule_due() -> int:
    """Scheduler task (every second): claim due enrollments into the outbox and enqueue their sends."""
    boot()
    return scheduler.tick(utcnow(), enqueue_send)


def seconds_to_next_due() -> float | None:
    """How long until the next step falls due (None: nothing scheduled), for the scheduler's sleep."""
    boot()
    now = utcnow()
    with db.session() as session:
        due = scheduler.next_due_after(session, now)
    return None if due is None else (due - now).total_seconds()


def sweep_deliveries() -> int:
    """Scheduler task (every 5 s): re-enqueue lost, retry-due and quota-resumed deliveries."""
    boot()
    return outbox.sweep(utcnow(), enqueue_send)


RECOVERY_ROUNDS = 20  # sweeps of SWEEP_LIMIT rows after a Redis loss; the regular sweep takes any rest


def sweep_lost_deliveries() -> int:
    """After Redis lost its jobs: re-enqueue at once every open delivery handed to Redis before now."""
    boot()
    now = utcnow()
    total = 0
    for _ in range(RECOVERY_ROUNDS):
        swept = outbox.sweep(now, enqueue_send, lost_before=now)
        total += swept
        if swept < outbox.SWEEP_LIMIT:
            break
    return total
