"""Goals reached by what a friend does — a click, a named event, a tag — besides the rule action
``goal: ID`` (``rules.record_goal``). A goal counts once per enrollment cycle (the unique key on
``goal_conversions``) and only within its ``within`` of the cycle's start date."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.dialect import among, insert_for
from app.errors import NotFound
from app.models.delivery import Enrollment, GoalConversion
from app.models.scenarios import ScenarioVersion
from app.scenarios import schema as s
from app.scenarios.store import definition_for

CLICK, EVENT, TAG = "click", "event", "tag"
_ON_TYPES: dict[str, type] = {CLICK: s.ClickOn, EVENT: s.EventOn, TAG: s.TagOn}


def _matches(goal: s.GoalDef, kind: str, value: str) -> bool:
    on = goal.on
    if kind == CLICK:
        return isinstance(on, s.ClickOn) and on.click in value
    if kind == EVENT:
        return isinstance(on, s.EventOn) and on.event == value
    return isinstance(on, s.TagOn) and on.tag == value


def any_goal_of(session: Session, kind: str) -> bool:
    """Whether some stored scenario version has a goal of ``kind`` (one small read, the definitions
    cached): a drain of clicks skips looking up the clickers' cycles when no goal could count one."""
    versions = session.execute(sa.select(ScenarioVersion.scenario_id, ScenarioVersion.version)).all()
    wanted = _ON_TYPES[kind]
    return any(isinstance(goal.on, wanted) for scenario_id, version in versions
               for goal in definition_for(session, scenario_id, version).goals)


def latest_cycles(session: Session, friend_ids: Iterable[int]) -> dict[int, list[Any]]:
    """friend id → the latest cycle (enrollment) of each scenario the friend entered."""
    ids = list(set(friend_ids))
    if not ids:
        return {}
    latest = (sa.select(sa.func.max(Enrollment.id)).where(among(session, Enrollment.friend_id, ids))
              .group_by(Enrollment.friend_id, Enrollment.scenario_id))
    rows = session.execute(sa.select(Enrollment.id, Enrollment.friend_id, Enrollment.scenario_id,
                                     Enrollment.scenario_version, Enrollment.start_at)
                           .where(Enrollment.id.in_(latest))).all()
    out: dict[int, list[Any]] = {}
    for row in rows:
        out.setdefault(row.friend_id, []).append(row)
    return out


def complete(session: Session, cycles: Iterable[Any], kind: str, value: str, at: datetime) -> list[tuple[str, str]]:
    """Record the goals of ``kind`` that ``value`` reaches in these cycles; (scenario, goal) newly counted."""
    reached: list[tuple[str, str]] = []
    for cycle in cycles:
        try:
            scn = definition_for(session, cycle.scenario_id, cycle.scenario_version)
        except NotFound:
            continue
        for goal in scn.goals:
            if goal.on is None or not _matches(goal, kind, value):
                continue
            if goal.within is not None and at - cycle.start_at > goal.within:
                continue
            inserted = session.execute(  # RETURNING: psycopg reports no rowcount for ON CONFLICT DO NOTHING
                insert_for(session)(GoalConversion)
                .values(enrollment_id=cycle.id, scenario_id=cycle.scenario_id, goal_id=goal.id, converted_at=at)
                .on_conflict_do_nothing(index_elements=["enrollment_id", "goal_id"])
                .returning(GoalConversion.id)).first()
            if inserted is not None:
                reached.append((cycle.scenario_id, goal.id))
    return reached


def for_friend(session: Session, friend_id: int, kind: str, value: str, at: datetime) -> list[tuple[str, str]]:
    """Goals a friend reaches by a click / event / tag, in the latest cycle of each of their scenarios."""
    session.flush()
    return complete(session, latest_cycles(session, [friend_id]).get(friend_id, []), kind, value, at)
