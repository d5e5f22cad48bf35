"""Claim due enrollments into the outbox: one delivery row per (enrollment, step, cycle, visit), then advance.

Writing the delivery and advancing the enrollment happen in one transaction, and the unique
(enrollment_id, step_id, cycle) makes a second scheduler or a re-run insert nothing: a step is
written once. Sending happens later, from the committed rows (``app/delivery/sender.py``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery import bulk_pg, conditions
from app.delivery.moves import Move
from app.delivery.yearly import is_yearly, renew_yearly
from app.dialect import insert_for, is_postgres, plain_rows, table_of
from app.errors import NotFound
from app.models.delivery import (
    DELIVERY_QUEUED,
    DELIVERY_SKIPPED,
    ENROLLMENT_ACTIVE,
    ENROLLMENT_COMPLETED,
    ENROLLMENT_STOPPED,
    Delivery,
    Enrollment,
)
from app.models.scenarios import SCENARIO_LIVE, Scenario
from app.scenarios.store import definition_for
from app.scenarios.timeline import SKIP_AFTER_END

log = logging.getLogger(__name__)

CLAIM_LIMIT = 1000  # enrollments per claim (one transaction)
JOB_SIZE = 500  # deliveries per send job: one full multicast; smaller jobs keep every worker busy
STOP_STEP_REMOVED = "step_removed"
STOP_ENDED = "scenario_ended"  # the step fell due after the scenario's ``end``

Enqueue = Callable[[list[int]], bool]


@dataclass
class Claim:
    """What one claim did: enrollments taken and the delivery ids written."""

    enrollments: int = 0
    delivery_ids: list[int] = field(default_factory=list)


def _live_scenarios(session: Session) -> dict[str, tuple[str, int]]:
    rows = session.execute(sa.select(Scenario.id, Scenario.channel, Scenario.priority)
                           .where(Scenario.status == SCENARIO_LIVE))
    return {row.id: (row.channel, row.priority) for row in rows}


@dataclass
class _Calendar:
    """What a claim must know per live scenario beyond its channel: its ``end`` and whether its
    cycles repeat yearly. Looked up once per claim (definitions are cached), never per row."""

    ends: dict[str, datetime] = field(default_factory=dict)
    yearly: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, session: Session, live: Sequence[str]) -> _Calendar:
        calendar = cls()
        versions = session.execute(sa.select(Scenario.id, Scenario.version).where(Scenario.id.in_(list(live))))
        for scenario_id, version in versions:
            try:
                scn = definition_for(session, scenario_id, version)
            except NotFound:
                continue
            if scn.end_at is not None:
                calendar.ends[scenario_id] = scn.end_at
            if is_yearly(scn):
                calendar.yearly.add(scenario_id)
        return calendar

    def ended(self, row: Any) -> bool:
        end = self.ends.get(row.scenario_id)
        return end is not None and row.next_run_at > end


_DUE_COLUMNS = (Enrollment.id, Enrollment.scenario_id, Enrollment.scenario_version, Enrollment.next_step_id)
# SQLite writes outbox rows and positions from Python; PostgreSQL copies them in SQL (bulk_pg)
_DUE_COLUMNS_SQLITE = _DUE_COLUMNS + (Enrollment.friend_id, Enrollment.cycle, Enrollment.jumps, Enrollment.next_run_at,
                                      Enrollment.last_step_id, Enrollment.last_step_at)


def _due_rows(session: Session, now: datetime, live: Sequence[str], limit: int, *, with_due: bool = False) -> list[Any]:
    postgres = is_postgres(session)
    columns = (_DUE_COLUMNS + (Enrollment.next_run_at,) if with_due else _DUE_COLUMNS) if postgres \
        else _DUE_COLUMNS_SQLITE  # PostgreSQL reads the due time only when some live scenario has an ``end``
    # the WHERE repeats the partial index predicate of ix_enrollments_due so the planner walks it
    statement = (
        sa.select(*columns)
        .where(Enrollment.status == ENROLLMENT_ACTIVE, Enrollment.next_run_at.is_not(None),
               Enrollment.next_run_at <= now, Enrollment.scenario_id.in_(list(live)))
        .order_by(Enrollment.next_run_at, Enrollment.id)
        .limit(limit)
    )
    if postgres:  # SQLite already holds the write lock since BEGIN IMMEDIATE
        statement = statement.with_for_update(skip_locked=True)
    return plain_rows(session.connection().execute(statement))


_GONE = "\x00gone"  # marker: the enrollment's step is not in its scenario version


class _Following:
    """The step after each (scenario, version, step), looked up once per claim, not once per row.

    Which step follows is structure only (its due time is computed when this one settles, in
    ``app/delivery/progress.py``), so every row of a group shares the answer.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._known: dict[tuple[str, int, str], str | None] = {}

    def __call__(self, scenario_id: str, version: int, step_id: str) -> str | None:
        """The following step id (None: scenario finished); raises KeyError when the step is gone."""
        key = (scenario_id, version, step_id)
        if key not in self._known:
            self._known[key] = self._look_up(scenario_id, version, step_id)
        following = self._known[key]
        if following == _GONE:
            raise KeyError(step_id)
        return following

    def _look_up(self, scenario_id: str, version: int, step_id: str) -> str | None:
        try:
            scn = definition_for(self._session, scenario_id, version)
            index = scn.step_index(step_id) + 1
        except (KeyError, NotFound):
            return _GONE
        return scn.steps[index].id if index < len(scn.steps) else None


_COMPLETED = Move(ENROLLMENT_COMPLETED, None, None, True)
_STEP_GONE = Move(ENROLLMENT_STOPPED, STOP_STEP_REMOVED, None, False)
_ENDED = Move(ENROLLMENT_STOPPED, STOP_ENDED, None, True)


def claim(session: Session, now: datetime, *, limit: int = CLAIM_LIMIT) -> Claim:
    """Write the outbox rows of up to ``limit`` due enrollments of live scenarios and advance them
    (the caller's transaction); the delivery ids and how many enrollments were taken."""
    live = _live_scenarios(session)
    if not live:
        return Claim()
    calendar = _Calendar.of(session, list(live))
    rows = _due_rows(session, now, list(live), limit, with_due=bool(calendar.ends))
    following_of = _Following(session)
    written: list[Any] = []
    ended: list[Any] = []
    moves: list[tuple[Any, Move]] = []
    for row in rows:
        if calendar.ends and calendar.ended(row):
            ended.append(row)
            moves.append((row, _ENDED))
            continue
        try:
            following = following_of(row.scenario_id, row.scenario_version, row.next_step_id)
        except KeyError:
            log.warning("enrollment %s: step %s not in %s v%s; stopping it", row.id, row.next_step_id,
                        row.scenario_id, row.scenario_version)
            moves.append((row, _STEP_GONE))
            continue
        written.append(row)
        # the next step is timed once this delivery settles (app/delivery/progress.py): never overtakes it
        moves.append((row, Move(ENROLLMENT_ACTIVE, None, following, True) if following else _COMPLETED))
    ids = _insert_deliveries(session, written, live, now)
    _record_ended(session, ended, live, now)
    _advance(session, moves, now)
    if calendar.yearly:
        renew_yearly(session, [row.id for row, move in moves
                               if move is _COMPLETED and row.scenario_id in calendar.yearly], now)
    skipped = conditions.skip_unmet(session, written, ids, now) if written else set()
    return Claim(len(rows), [i for i in ids if i not in skipped] if skipped else ids)


def _record_ended(session: Session, rows: list[Any], live: dict[str, tuple[str, int]], now: datetime) -> None:
    """Steps due after their scenario's ``end``: an outbox row marked skipped (with the reason), never sent."""
    if not rows:
        return
    if is_postgres(session):
        ids = bulk_pg.insert_deliveries(session, [(row.id, *live[row.scenario_id]) for row in rows], now,
                                        status=DELIVERY_SKIPPED)
    else:
        table = table_of(Delivery)
        values = [{**_delivery_row(row, live[row.scenario_id], now), "status": DELIVERY_SKIPPED, "enqueued_at": None}
                  for row in rows]
        statement = (insert_for(session)(table)
                     .on_conflict_do_nothing(index_elements=["enrollment_id", "step_id", "cycle", "visit"])
                     .returning(table.c.id))
        ids = list(session.scalars(statement, values))
    if ids:
        session.execute(sa.update(Delivery).where(Delivery.id.in_(ids)).values(error=SKIP_AFTER_END))
        log.info("%d steps skipped: due after their scenario's end", len(ids))


def _insert_deliveries(session: Session, rows: list[Any], live: dict[str, tuple[str, int]],
                       now: datetime) -> list[int]:
    """One outbox row per claimed enrollment (each with a fresh retry key); ids of those written."""
    if not rows:
        return []
    if is_postgres(session):
        return bulk_pg.insert_deliveries(session, [(row.id, *live[row.scenario_id]) for row in rows], now)
    table = table_of(Delivery)
    values = [_delivery_row(row, live[row.scenario_id], now) for row in rows]
    # rows that hit the unique (enrollment, step, cycle, visit) are not inserted and return nothing
    statement = (insert_for(session)(table)
                 .on_conflict_do_nothing(index_elements=["enrollment_id", "step_id", "cycle", "visit"])
                 .returning(table.c.id))
    return sorted(session.scalars(statement, values))


def _delivery_row(row: Any, scenario: tuple[str, int], now: datetime) -> dict[str, Any]:
    """The outbox row of one due enrollment, as SQLite inserts it."""
    channel, priority = scenario
    return {
        "enrollment_id": row.id, "friend_id": row.friend_id, "scenario_id": row.scenario_id,
        "scenario_version": row.scenario_version, "step_id": row.next_step_id, "cycle": row.cycle,
        "visit": row.jumps, "channel": channel, "priority": priority, "retry_key": str(uuid.uuid4()),
        "request_key": None, "status": DELIVERY_QUEUED, "due_at": row.next_run_at, "created_at": now,
        "enqueued_at": now, "attempts": 0, "quota_reserved": False, "is_test": False,
    }


def _advance(session: Session, moves: list[tuple[Any, Move]], now: datetime) -> None:
    """Apply each claimed enrollment's move; ``next_run_at`` is cleared (timed when the step settles)."""
    if not moves:
        return
    if is_postgres(session):
        bulk_pg.advance_enrollments(session, [(row.id, move) for row, move in moves], now)
        return
    table = table_of(Enrollment)
    values = [{"e_id": row.id, "status": move.status, "stop_reason": move.stop_reason,
               "next_step_id": move.next_step_id, "next_run_at": None,
               "last_step_id": row.next_step_id if move.moved else row.last_step_id,
               "last_step_at": row.next_run_at if move.moved else row.last_step_at,
               "finished_at": None if move.status == ENROLLMENT_ACTIVE else now} for row, move in moves]
    statement = (sa.update(table).where(table.c.id == sa.bindparam("e_id"))
                 .values({name: sa.bindparam(name) for name in values[0] if name != "e_id"}))
    session.execute(statement, values)


def next_due_after(session: Session, now: datetime) -> datetime | None:
    """The earliest due time still ahead (one probe of the due index), so the scheduler can wake
    for it instead of up to a tick later; enrollments of paused scenarios may wake it needlessly."""
    return session.scalar(
        sa.select(sa.func.min(Enrollment.next_run_at))
        .where(Enrollment.status == ENROLLMENT_ACTIVE, Enrollment.next_run_at.is_not(None),
               Enrollment.next_run_at > now)
    )


def enqueue_in_jobs(delivery_ids: Sequence[int], enqueue: Enqueue, *, job_size: int = JOB_SIZE) -> int:
    """Enqueue ``delivery_ids`` as send jobs of at most ``job_size``; how many jobs were accepted."""
    ids = list(delivery_ids)
    return sum(bool(enqueue(ids[start:start + job_size])) for start in range(0, len(ids), job_size))
