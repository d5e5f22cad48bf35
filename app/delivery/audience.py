"""``audience: all``: enroll every existing matching friend when a scenario is published.

Friends are streamed in id order (keyset pagination, ``batch_size`` per round trip) and inserted
with one statement per batch, so memory stays flat and the cost is two statements per batch. A
friend who already has any enrollment in the scenario is skipped, which makes a re-run (a retried
job) harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.delivery.audience_counts import AudienceImpact, by_start_attribute, by_start_column
from app.delivery.start_dates import BIRTHDAY_ATTRIBUTE, in_window, resolve_start
from app.errors import NotFound
from app.friends.segments import segment_filters
from app.friends.sql import compile_filter
from app.models.base import utcnow
from app.models.delivery import ENROLLMENT_ACTIVE, Enrollment
from app.models.friends import FRIEND_ACTIVE, Friend
from app.models.scenarios import SCENARIO_LIVE, Scenario
from app.scenarios.filters import segments_named
from app.scenarios.schema import ScenarioDef
from app.scenarios.store import definition_for
from app.scenarios.timeline import first_step, steps_due_by

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
_ENROLLMENTS: sa.Table = Enrollment.__table__  # type: ignore[assignment]
_FRIENDS: sa.Table = Friend.__table__  # type: ignore[assignment]


def _eligible(session: Session, scenario: Scenario, scn: ScenarioDef, now: datetime,
              only: sa.ColumnElement[bool] | None = None) -> list[sa.ColumnElement[bool]]:
    """Active friends of the channel (not opted out when the scenario respects opt-outs) who pass
    the scenario's filter (compiled to SQL, segments resolved) and ``only`` (a bulk selection)."""
    f = _FRIENDS.c
    conditions = [f.channel == scenario.channel, f.status == FRIEND_ACTIVE]
    if scn.respect_opt_out:
        conditions.append(f.opted_out.is_(False))
    if scn.filter is not None:
        definitions = segment_filters(session) if segments_named(scn.filter) else {}
        conditions.append(compile_filter(session.get_bind().dialect.name, scn.filter, now, definitions))
    if only is not None:
        conditions.append(only)
    return conditions


def _not_enrolled(scenario: Scenario) -> sa.ColumnElement[bool]:
    e = _ENROLLMENTS.c
    return ~sa.exists().where(e.friend_id == _FRIENDS.c.id, e.scenario_id == scenario.id)


def _columns(scn: ScenarioDef) -> list[sa.ColumnElement[Any]]:
    """(id, start date column, attributes): NULL for what neither the start nor the filter needs."""
    f = _FRIENDS.c
    date = f[scn.start.from_] if scn.start.from_ in ("followed_at", "last_message_at") else sa.null()
    wants_attributes = scn.start.from_ == "birthday" or scn.start.from_attribute
    return [f.id, date, f.attributes if wants_attributes else sa.null()]


def _already_in(session: Session, scenario_id: str, first_id: int, last_id: int) -> set[int]:
    """Friends of an id range with any enrollment in the scenario (a bounded index range scan; a
    NOT EXISTS in the batch query made PostgreSQL re-scan the enrollments index on every batch)."""
    e = _ENROLLMENTS.c
    return set(session.scalars(sa.select(e.friend_id).where(
        e.scenario_id == scenario_id, e.friend_id >= first_id, e.friend_id <= last_id)))


def audience_size(session: Session, scenario_id: str, now: datetime | None = None,
                  only: sa.ColumnElement[bool] | None = None) -> int:
    """How many friends :func:`enroll_audience` would look at (for progress bars and job sizing)."""
    scenario, scn = _load(session, scenario_id)
    query = sa.select(sa.func.count()).where(*_eligible(session, scenario, scn, now or utcnow(), only),
                                             _not_enrolled(scenario))
    return int(session.scalar(query) or 0)


def _load(session: Session, scenario_id: str) -> tuple[Scenario, ScenarioDef]:
    scenario = session.get(Scenario, scenario_id)
    if scenario is None:
        raise NotFound(f"scenario {scenario_id!r} does not exist")
    return scenario, definition_for(session, scenario.id, scenario.version)


_PG_INSERT = sa.text("""
    INSERT INTO enrollments (friend_id, scenario_id, scenario_version, cycle, status, start_at, next_step_id,
                             next_run_at, created_at)
    SELECT u.friend_id, :scenario_id, :version, 1, 'active', u.start_at, :step_id, u.due, :now
    FROM unnest(CAST(:friend_ids AS integer[]), CAST(:starts AS timestamptz[]), CAST(:dues AS timestamptz[]))
         AS u(friend_id, start_at, due)
    ON CONFLICT (friend_id, scenario_id) WHERE status = 'active' DO NOTHING
""")


def _pg_array(items: list[str], quote: bool = False) -> str:
    """A PostgreSQL array literal: one text parameter instead of thousands of adapted values."""
    return "{" + ",".join(f'"{item}"' for item in items) + "}" if quote else "{" + ",".join(items) + "}"


def _write(session: Session, scenario: Scenario, step_id: str, rows: list[tuple[int, datetime, datetime]],
           now: datetime) -> int:
    """Insert one batch, skipping a friend who became active meanwhile (partial unique index).

    PostgreSQL gets three array literals in one statement; SQLite a cached executemany.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        params = {"scenario_id": scenario.id, "version": scenario.version, "step_id": step_id, "now": now,
                  "friend_ids": _pg_array([str(friend_id) for friend_id, _, _ in rows]),
                  "starts": _pg_array([start.isoformat() for _, start, _ in rows], quote=True),
                  "dues": _pg_array([due.isoformat() for _, _, due in rows], quote=True)}
        return connection.execute(_PG_INSERT, params).rowcount
    statement = sqlite.insert(_ENROLLMENTS).on_conflict_do_nothing(
        index_elements=["friend_id", "scenario_id"], index_where=sa.text("status = 'active'")
    ).execution_options(preserve_rowcount=True)  # SQLAlchemy drops an INSERT's rowcount otherwise
    values = [{"friend_id": friend_id, "scenario_id": scenario.id, "scenario_version": scenario.version,
               "cycle": 1, "status": ENROLLMENT_ACTIVE, "start_at": start, "next_step_id": step_id,
               "next_run_at": due, "created_at": now} for friend_id, start, due in rows]
    return connection.execute(statement, values).rowcount


def _enroll_shared(session: Session, run: _Run, step_id: str, *, batch_size: int, progress: Progress | None,
                   commit: bool) -> int:
    """``from: trigger_time``: everyone enters with one start and one first due, so the database
    selects and inserts them itself (INSERT .. SELECT, the next ``batch_size`` in id order per
    statement): no row travels to Python and back. Skips the same friends as the batch path (any
    enrollment in the scenario; one made active meanwhile, by the partial unique index)."""
    assert run.shared is not None
    scenario, e, f = run.scenario, _ENROLLMENTS.c, _FRIENDS.c
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(_ENROLLMENTS)
    values = [f.id, sa.literal(scenario.id, e.scenario_id.type), sa.literal(scenario.version, e.scenario_version.type),
              sa.literal(1, e.cycle.type), sa.literal(ENROLLMENT_ACTIVE, e.status.type),
              sa.literal(run.now, e.start_at.type), sa.literal(step_id, e.next_step_id.type),
              sa.literal(run.shared[1], e.next_run_at.type), sa.literal(run.now, e.created_at.type)]
    columns = ["friend_id", "scenario_id", "scenario_version", "cycle", "status", "start_at", "next_step_id",
               "next_run_at", "created_at"]
    after, total = 0, 0
    while True:
        # the enrollments probed from ``after`` on: unbounded, the anti-join re-read the scenario's
        # enrollments from the first on every batch
        not_in = ~sa.exists().where(e.friend_id == f.id, e.scenario_id == scenario.id, e.friend_id > after)
        waiting = [*run.conditions, not_in, f.id > after]
        statement = insert.from_select(columns, sa.select(*values).where(*waiting).order_by(f.id).limit(batch_size))
        entered = list(session.scalars(statement.on_conflict_do_nothing(
            index_elements=["friend_id", "scenario_id"], index_where=sa.text("status = 'active'"))
            .returning(e.friend_id)))
        total += len(entered)
        after = max(entered, default=after)
        if commit:
            session.commit()
        if progress is not None and entered:
            progress(len(entered))
        # a short batch is the last one, unless friends were skipped as enrolled by a concurrent
        # transaction (its rows are committed now, so the next statement leaves them out)
        if len(entered) < batch_size and session.scalar(sa.select(f.id).where(
                *run.conditions, _not_enrolled(scenario), f.id > after).limit(1)) is None:
            break
    log.info("scenario %s: %d existing friends enrolled", scenario.id, total)
    return total


@dataclass
class _Batch:
    """One page of matching friends (id order) with who is already in."""

    friends: list[tuple[int, datetime | None, dict[str, Any] | None]]
    skip: set[int]


@dataclass
class _Run:
    scenario: Scenario
    scn: ScenarioDef
    now: datetime
    shared: tuple[str, datetime] | None  # ``from: trigger_time``: one first due for everyone
    conditions: list[sa.ColumnElement[bool]]

    def fetch(self, session: Session, after_id: int, batch_size: int) -> _Batch | None:
        query = (sa.select(*_columns(self.scn)).where(*self.conditions, _FRIENDS.c.id > after_id)
                 .order_by(_FRIENDS.c.id).limit(batch_size))
        friends = [(row[0], row[1], row[2]) for row in session.execute(query)]
        if not friends:
            return None
        ids = [friend[0] for friend in friends]
        return _Batch(friends, _already_in(session, self.scenario.id, ids[0], ids[-1]))

    def plan(self, batch: _Batch) -> list[tuple[int, datetime, datetime]]:
        """(friend id, start, first due) of the friends who enter: pure Python, no database."""
        scn, now, rows = self.scn, self.now, []
        for friend_id, date, attributes in batch.friends:
            if friend_id in batch.skip:
                continue
            if self.shared is not None:
                rows.append((friend_id, now, self.shared[1]))
                continue
            start = resolve_start(scn, followed_at=date, last_message_at=date, attributes=attributes or {},
                                  trigger_time=now)
            first = first_step(scn, start) if start is not None and in_window(scn, start) else None
            if start is not None and first is not None:
                rows.append((friend_id, start, first[1]))
        return rows


def _run_for(session: Session, scenario: Scenario, scn: ScenarioDef, now: datetime,
             only: sa.ColumnElement[bool] | None = None) -> _Run | None:
    """The planning of an audience enrollment; None when nobody can enter (``trigger_time`` outside the window)."""
    run = _Run(scenario, scn, now, first_step(scn, now) if scn.start.from_ == "trigger_time" else None,
               _eligible(session, scenario, scn, now, only))
    if run.shared is not None and not in_window(scn, now):
        return None
    return run


def audience_impact(session: Session, scenario: Scenario, scn: ScenarioDef, now: datetime) -> AudienceImpact:
    """What :func:`enroll_audience` would do now, counted in SQL over the conditions its fetch uses
    (see ``audience_counts``): the cost does not grow with the number of friends.

    ``scenario`` may be a row not stored yet (an upload's dry run); only its id and channel are read.
    """
    run = _run_for(session, scenario, scn, now)
    if run is None:
        return AudienceImpact(0, 0)
    conditions = [*run.conditions, _not_enrolled(scenario)]
    if run.shared is not None:  # everyone eligible enters with one schedule: count them (the filter is SQL)
        entering = int(session.scalar(sa.select(sa.func.count()).where(*conditions)) or 0)
        return AudienceImpact(entering, entering * steps_due_by(scn, run.shared[0], now, run.shared[1], now))
    if scn.start.from_ in ("followed_at", "last_message_at"):
        return by_start_column(session, scn, conditions, _FRIENDS.c[scn.start.from_], now)
    name = BIRTHDAY_ATTRIBUTE if scn.start.from_ == "birthday" else scn.start.from_attribute
    assert name is not None, f"unknown start.from {scn.start.from_!r}"
    return by_start_attribute(session, scn, conditions, name, now)


def scanned_impact(session: Session, scenario: Scenario, scn: ScenarioDef, now: datetime, *,
                   batch_size: int = 5000) -> AudienceImpact:
    """:func:`audience_impact` the slow way, with :func:`enroll_audience`'s own fetch and plan
    friend by friend: the reference the counted answer is tested and benchmarked against."""
    run = _run_for(session, scenario, scn, now)
    if run is None:
        return AudienceImpact(0, 0)
    entering, due_now = 0, 0
    known: dict[tuple[datetime, datetime], int] = {}
    batch = run.fetch(session, 0, batch_size)
    while batch is not None:
        for _, start, first_due in run.plan(batch):
            entering += 1
            key = (start, first_due)
            if key not in known:
                known[key] = steps_due_by(scn, scn.steps[0].id, start, first_due, now)
            due_now += known[key]
        batch = run.fetch(session, batch.friends[-1][0], batch_size)
    return AudienceImpact(entering, due_now)


def enroll_audience(session: Session, scenario_id: str, now: datetime, *, batch_size: int = 5000,
                    progress: Progress | None = None, commit: bool = False,
                    only: sa.ColumnElement[bool] | None = None, write: bool = True,
                    observe: Callable[[list[tuple[int, datetime, datetime]]], None] | None = None) -> int:
    """Enroll existing friends into a live ``audience: all`` scenario; returns how many entered.

    ``only`` narrows the friends (a bulk action's selection); ``write=False`` counts who would
    enter without inserting anything (a dry run); ``observe`` sees each batch's planned
    (friend id, start, first due) rows.
    ``progress(n)`` is called after each batch with the number of friends looked at. With
    ``commit`` each batch is committed on its own (jobs and the CLI: the scheduler can start on
    the first friends while the rest are inserted, and locks stay short).

    While the database inserts batch k (in a helper thread; the GIL is free while it waits), the
    next page has already been read and its start dates and due times are computed here.
    """
    scenario, scn = _load(session, scenario_id)
    if scenario.status != SCENARIO_LIVE:
        log.info("scenario %s is %s: no audience enrollment", scenario.id, scenario.status)
        return 0
    run = _run_for(session, scenario, scn, now, only)
    if run is None:
        return 0
    step_id, total = scn.steps[0].id, 0
    if run.shared is not None and write and observe is None:
        return _enroll_shared(session, run, step_id, batch_size=batch_size, progress=progress, commit=commit)
    batch = run.fetch(session, 0, batch_size)
    rows = run.plan(batch) if batch else []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audience-writer") as writer:
        while batch is not None:
            upcoming = run.fetch(session, batch.friends[-1][0], batch_size)  # the connection is idle here
            written = writer.submit(_write, session, scenario, step_id, rows, now) if rows and write else None
            upcoming_rows = run.plan(upcoming) if upcoming else []  # overlaps with the insert
            if observe is not None:
                observe(rows)
            total += written.result() if written else (0 if write else len(rows))
            if commit:
                session.commit()
            if progress is not None:
                progress(len(batch.friends))
            batch, rows = upcoming, upcoming_rows
    log.info("scenario %s: %d existing friends enrolled", scenario.id, total)
    return total
