"""PostgreSQL fast path for the scheduler: one INSERT and one UPDATE per group of a claim, fed by id arrays.

A claim's rows share their scenario, step and outcome, so only enrollment ids travel: every
other column is copied from the enrollment rows the claim holds locked (same transaction), and
PostgreSQL draws the retry keys (``gen_random_uuid``, version 4 like ``uuid.uuid4``). Arrays of
strings and timestamps would cost psycopg ~1-2 ms per thousand values each, so only ids travel,
as one array text (``app.dialect.int_array``), and the statement text never changes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.moves import Move
from app.dialect import int_array
from app.models.base import UTCDateTime
from app.models.delivery import DELIVERY_QUEUED, ENROLLMENT_ACTIVE

_INSERT_DELIVERIES = sa.text("""
INSERT INTO deliveries (enrollment_id, friend_id, scenario_id, scenario_version, step_id, cycle, visit, channel,
                        priority, retry_key, status, due_at, created_at, enqueued_at, attempts, quota_reserved,
                        is_test)
SELECT en.id, en.friend_id, en.scenario_id, en.scenario_version, en.next_step_id, en.cycle, en.jumps, :channel,
       :priority, CAST(gen_random_uuid() AS varchar), :status, en.next_run_at, :now, :now, 0, false, false
FROM enrollments AS en
WHERE en.id = ANY(CAST(:ids AS int[]))
ON CONFLICT (enrollment_id, step_id, cycle, visit) DO NOTHING
RETURNING id""").bindparams(sa.bindparam("now", type_=UTCDateTime()))

# SET expressions read the old row: ``last_*`` take the step being claimed when the enrollment moved on
_ADVANCE_ENROLLMENTS = sa.text("""
UPDATE enrollments SET status = :status, stop_reason = :stop, finished_at = :fin,
       last_step_id = CASE WHEN :moved THEN next_step_id ELSE last_step_id END,
       last_step_at = CASE WHEN :moved THEN next_run_at ELSE last_step_at END,
       next_step_id = :nsi, next_run_at = NULL
WHERE id = ANY(CAST(:ids AS int[]))""").bindparams(sa.bindparam("fin", type_=UTCDateTime()))


def insert_deliveries(session: Session, claimed: list[tuple[int, str, int]], now: datetime, *,
                      status: str = DELIVERY_QUEUED) -> list[int]:
    """Insert the outbox rows of these locked, not yet advanced enrollments, given as
    (enrollment id, channel, priority); ``retry_key`` is drawn here. Ids of those not already there."""
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for enrollment_id, channel, priority in claimed:
        groups[(channel, priority)].append(enrollment_id)
    ids: list[int] = []
    for (channel, priority), enrollment_ids in groups.items():
        ids.extend(session.scalars(_INSERT_DELIVERIES, {"channel": channel, "priority": priority,
                                                        "status": status, "now": now,
                                                        "ids": int_array(enrollment_ids)}).all())
    return sorted(ids)


def advance_enrollments(session: Session, moves: list[tuple[int, Move]], now: datetime) -> None:
    """Apply each enrollment's move, given as (enrollment id, move): one UPDATE per distinct move.
    ``next_run_at`` is always cleared: the next step is timed when this one settles."""
    groups: dict[Move, list[int]] = defaultdict(list)
    for enrollment_id, move in moves:
        groups[move].append(enrollment_id)
    for move, ids in groups.items():
        finished_at = None if move.status == ENROLLMENT_ACTIVE else now
        session.execute(_ADVANCE_ENROLLMENTS, {"status": move.status, "stop": move.stop_reason, "fin": finished_at,
                                               "moved": move.moved, "nsi": move.next_step_id, "ids": int_array(ids)})
