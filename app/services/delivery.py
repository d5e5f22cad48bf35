"""Delivery use cases: what the scheduler, the senders and staff do with the outbox.

Each function owns its transactions and hands work on through the ``enqueue`` it is given
(``workers/`` passes RQ, tests a list): claim due steps, sweep the outbox, retry failed rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.delivery import claim as claims
from app.delivery import outbox
from app.delivery.claim import CLAIM_LIMIT, JOB_SIZE, Enqueue, enqueue_in_jobs
from app.delivery.retry import delivery_dict, requeue_failed
from app.extensions import db
from app.quota import holding

log = logging.getLogger(__name__)

MAX_BATCHES_PER_TICK = 50  # keep one round bounded; the rest waits for the next one
RECOVERY_ROUNDS = 20  # sweeps of SWEEP_LIMIT rows after a Redis loss; the regular sweep takes any rest


def schedule_due(now: datetime, enqueue: Enqueue, *, limit: int = CLAIM_LIMIT, job_size: int = JOB_SIZE) -> int:
    """Claim every due enrollment (batches of ``limit``, each committed), then enqueue send jobs.

    Returns the number of deliveries written. Each batch's jobs are enqueued right after its
    commit; a failed enqueue is fine — the sweep finds the rows by their ``enqueued_at``.
    """
    written = 0
    for _ in range(MAX_BATCHES_PER_TICK):
        with db.transaction() as session:
            claim = claims.claim(session, now, limit=limit)
        enqueue_in_jobs(claim.delivery_ids, enqueue, job_size=job_size)
        written += len(claim.delivery_ids)
        if claim.enrollments < limit:
            break
    if written:
        log.info("scheduler tick: %d deliveries written", written)
    return written


def seconds_to_next_due(now: datetime) -> float | None:
    """How long until the next step falls due (None: nothing scheduled), for the scheduler's sleep."""
    with db.read() as session:
        due = claims.next_due_after(session, now)
    return None if due is None else (due - now).total_seconds()


def sweep(now: datetime, enqueue: Enqueue, *, lost_before: datetime | None = None) -> int:
    """Queue held rows again that the quota now carries, then re-enqueue every stale delivery
    (those among them included); how many ids were handed on."""
    with db.transaction() as session:
        resumed = holding.resume_held(session, now)
        ids = outbox.stale_deliveries(session, now, lost_before=lost_before)
        outbox.mark_enqueued(session, ids, now)
    if resumed:
        log.info("quota back: %d held deliveries queued again", len(resumed))
    if ids:
        jobs = enqueue_in_jobs(ids, enqueue)
        log.info("delivery sweep: %d deliveries re-enqueued in %d jobs", len(ids), jobs)
    return len(ids)


def sweep_lost(now: datetime, enqueue: Enqueue) -> int:
    """After Redis lost its jobs: re-enqueue at once every open delivery handed to Redis before now."""
    total = 0
    for _ in range(RECOVERY_ROUNDS):
        swept = sweep(now, enqueue, lost_before=now)
        total += swept
        if swept < outbox.SWEEP_LIMIT:
            break
    return total


def retry_failed(delivery_ids: Sequence[int], now: datetime, enqueue: Enqueue) -> list[dict[str, Any]]:
    """Staff retry failed deliveries: each queued again under a new retry key (LINE refused the old
    request), all or none, then handed to a sender; the rows as JSON, each with ``enqueued``."""
    with db.transaction() as session:
        rows = [delivery_dict(requeue_failed(session, delivery_id, now)) for delivery_id in delivery_ids]
    enqueued = enqueue(list(delivery_ids)) if delivery_ids else False
    return [{**row, "enqueued": enqueued} for row in rows]
