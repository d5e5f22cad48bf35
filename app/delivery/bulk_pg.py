"""PostgreSQL fast path for the scheduler: one INSERT and one UPDATE per group of a claim, fed by id arrays.

A claim's rows share their scenario, step and outcome, so only enrollment ids travel: every
other column is copied from the enrollment rows the claim holds locked (same transaction), and
PostgreSQL draws the retry keys (``gen_random_uuid``, version 4 like ``uuid.uuid4``). Arrays of
strings and timestamps would cost psycopg ~1-2 ms per thousand values each, so only ids travel,
as one array text (``app.dialect.int_array``), and the statement text never changes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.dialect import int_array
from app.models.base import UTCDateTime

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


def insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the outbox rows of these locked, not yet advanced enrollments (keys as built by the
    scheduler's claim; ``retry_key`` is drawn here); ids of those not already there."""
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for row in rows:
        groups[(row["channel"], row["priority"], row["status"], row["created_at"])].append(row["enrollment_id"])
    ids: list[int] = []
    for (channel, priority, status, now), enrollment_ids in groups.items():
        ids.extend(session.scalars(_INSERT_DELIVERIES, {"channel": channel, "priority": priority, "status": status,
                                                        "now": now, "ids": int_array(enrollment_ids)}))
    return sorted(ids)


def advance_enrollments(session: Session, advances: list[dict[str, Any]]) -> None:
    """Apply each enrollment's new position (keys as built by the scheduler's claim): one UPDATE per
    distinct outcome. ``next_run_at`` is always cleared: the next step is timed when this one settles."""
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for advance in advances:
        key = (advance["status"], advance["stop_reason"], advance["finished_at"], advance["moved"],
               advance["next_step_id"])
        groups[key].append(advance["e_id"])
    for (status, stop, finished_at, moved, next_step_id), ids in groups.items():
        session.execute(_ADVANCE_ENROLLMENTS, {"status": status, "stop": stop, "fin": finished_at, "moved": moved,
                                               "nsi": next_step_id, "ids": int_array(ids)})
