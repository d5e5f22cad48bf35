"""A step's next one is timed from the moment the step settled, not from when it was claimed.

The scheduler leaves ``next_run_at`` empty while a step's delivery is in the outbox, so the next
step can never overtake it (a held or retried step holds the ones after it back), and a
``{wait: D}`` step counts D from the previous step's actual send time, as SPEC §2 says.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.dialect import among, plain_rows, table_of
from app.errors import NotFound
from app.models.delivery import ENROLLMENT_ACTIVE, Delivery, Enrollment
from app.scenarios.store import definition_for
from app.scenarios.timeline import next_step

log = logging.getLogger(__name__)


class _Waiting(NamedTuple):
    """An enrollment held back until the delivery of ``step_id`` settles."""

    id: int
    step_id: str
    sent_at: datetime | None
    start_at: datetime
    scenario_id: str
    scenario_version: int
    next_step_id: str
    jumped: bool  # a goto chose the next step: due as soon as this one settles


class Position(NamedTuple):
    """The step a delivery carries: what its enrollment waits on until the delivery settles."""

    enrollment_id: int | None
    step_id: str
    cycle: int
    visit: int


class Settled(NamedTuple):
    """A delivery that reached a final state at its position."""

    enrollment_id: int | None
    step_id: str
    cycle: int
    visit: int
    sent_at: datetime | None


def settle(session: Session, delivery_ids: Sequence[int], now: datetime) -> int:
    """Time the next step of each active enrollment waiting on one of these (sent, failed or skipped)
    deliveries; returns how many enrollments were released."""
    if not delivery_ids:
        return 0
    settled = plain_rows(session.execute(
        sa.select(Delivery.enrollment_id, Delivery.step_id, Delivery.cycle, Delivery.visit, Delivery.sent_at)
        .where(among(session, Delivery.id, list(delivery_ids)), Delivery.enrollment_id.is_not(None))
    ))
    return settle_known(session, settled, now)


def settle_known(session: Session, settled: Sequence[Settled], now: datetime) -> int:
    """:func:`settle` for deliveries whose positions the caller already holds (no re-read)."""
    waiting = _waiting_enrollments(session, settled)
    if not waiting:
        return 0
    due_of = _DueTimes(session, now)
    by_due: dict[datetime, list[int]] = defaultdict(list)
    for row in waiting:
        by_due[due_of(row)].append(row.id)
    table = table_of(Enrollment)
    still_waiting = (table.c.next_run_at.is_(None), table.c.status == ENROLLMENT_ACTIVE)
    alone: list[dict[str, Any]] = []
    for due, ids in by_due.items():  # a shared due time (a multicast's members): one UPDATE for all
        if len(ids) == 1:
            alone.append({"e_id": ids[0], "due": due})
            continue
        session.execute(sa.update(table).where(among(session, table.c.id, ids), *still_waiting).values(next_run_at=due))
    if alone:  # distinct due times: one pipelined executemany
        session.execute(sa.update(table).where(table.c.id == sa.bindparam("e_id"), *still_waiting)
                        .values(next_run_at=sa.bindparam("due")), alone)
    return len(waiting)


def _waiting_enrollments(session: Session, settled: Sequence[Settled]) -> list[_Waiting]:
    """The enrollments still waiting on these deliveries, each with the delivery it waits on.

    The deliveries and their enrollments are two primary-key lookups joined here rather than one
    SQL join: the planner cannot then start from a scan of enrollments, which statistics taken
    before a burst make look tiny.
    """
    by_enrollment: dict[int, list[Settled]] = defaultdict(list)
    for row in settled:
        if row.enrollment_id is not None:
            by_enrollment[row.enrollment_id].append(row)
    if not by_enrollment:
        return []
    enrollments = plain_rows(session.execute(  # those finished with this step (the last one) stay in the database
        sa.select(Enrollment.id, Enrollment.start_at, Enrollment.scenario_id, Enrollment.scenario_version,
                  Enrollment.next_step_id, Enrollment.last_step_id, Enrollment.cycle, Enrollment.jumps)
        .where(among(session, Enrollment.id, list(by_enrollment)), Enrollment.status == ENROLLMENT_ACTIVE,
               Enrollment.next_run_at.is_(None), Enrollment.next_step_id.is_not(None))
    ))
    waiting = []
    for enrollment in enrollments:
        for delivery in by_enrollment[enrollment.id]:  # the one delivery its current position waits on
            # a goto made while this delivery was in flight moved ``jumps`` on (app/delivery/rules.py)
            if (enrollment.last_step_id, enrollment.cycle) == (delivery.step_id, delivery.cycle) \
                    and enrollment.jumps >= delivery.visit:
                waiting.append(_Waiting(enrollment.id, delivery.step_id, delivery.sent_at, enrollment.start_at,
                                        enrollment.scenario_id, enrollment.scenario_version,
                                        enrollment.next_step_id, enrollment.jumps > delivery.visit))
                break
    return waiting


class _DueTimes:
    """When each released enrollment's next step is due, computed once per distinct
    (scenario, version, step, start, settled) — the rows of one multicast share all five."""

    def __init__(self, session: Session, now: datetime) -> None:
        self._session, self._now = session, now
        self._known: dict[tuple[Any, ...], datetime] = {}

    def __call__(self, row: _Waiting) -> datetime:
        settled_at = row.sent_at or self._now
        if row.jumped:
            return settled_at
        key = (row.scenario_id, row.scenario_version, row.step_id, row.next_step_id, row.start_at, settled_at)
        if key not in self._known:
            self._known[key] = self._due(row, settled_at)
        return self._known[key]

    def _due(self, row: _Waiting, settled_at: datetime) -> datetime:
        try:
            scn = definition_for(self._session, row.scenario_id, row.scenario_version)
            following = next_step(scn, row.step_id, row.start_at, settled_at)
        except (KeyError, NotFound):
            following = None
        return following[1] if following and following[0] == row.next_step_id else settled_at
