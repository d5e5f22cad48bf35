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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.dialect import among, table_of
from app.errors import NotFound
from app.models.delivery import ENROLLMENT_ACTIVE, Delivery, Enrollment
from app.scenarios.timeline import next_step
from app.services.definitions import definition_for

log = logging.getLogger(__name__)


def settle(session: Session, delivery_ids: Sequence[int], now: datetime) -> int:
    """Time the next step of each active enrollment waiting on one of these (sent, failed or skipped)
    deliveries; returns how many enrollments were released."""
    if not delivery_ids:
        return 0
    waiting = session.execute(
        sa.select(Delivery.step_id, Delivery.sent_at, Enrollment.id, Enrollment.start_at, Enrollment.scenario_id,
                  Enrollment.scenario_version, Enrollment.next_step_id)
        .join(Enrollment, Enrollment.id == Delivery.enrollment_id)
        .where(among(session, Delivery.id, list(delivery_ids)), Enrollment.status == ENROLLMENT_ACTIVE,
               Enrollment.next_run_at.is_(None), Enrollment.next_step_id.is_not(None),
               Enrollment.last_step_id == Delivery.step_id, Enrollment.cycle == Delivery.cycle,
               Enrollment.jumps == Delivery.visit)
    ).all()
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


class _DueTimes:
    """When each released enrollment's next step is due, computed once per distinct
    (scenario, version, step, start, settled) — the rows of one multicast share all five."""

    def __init__(self, session: Session, now: datetime) -> None:
        self._session, self._now = session, now
        self._known: dict[tuple[Any, ...], datetime] = {}

    def __call__(self, row: Any) -> datetime:
        settled_at = row.sent_at or self._now
        key = (row.scenario_id, row.scenario_version, row.step_id, row.next_step_id, row.start_at, settled_at)
        if key not in self._known:
            self._known[key] = self._due(row, settled_at)
        return self._known[key]

    def _due(self, row: Any, settled_at: datetime) -> datetime:
        try:
            scn = definition_for(self._session, row.scenario_id, row.scenario_version)
            following = next_step(scn, row.step_id, row.start_at, settled_at)
        except (KeyError, NotFound):
            following = None
        return following[1] if following and following[0] == row.next_step_id else settled_at
