"""Scenario lifecycle rules: draft → live ⇄ paused, ``error`` when a live scenario's references broke.

The use cases (``app/services/scenario_lifecycle.py``, ``scenario_upload.py``) own the transaction;
these functions work in the session they are given.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.audience import audience_size, enroll_audience
from app.delivery.impact import Impact, enrolls_audience, going_live, nothing
from app.errors import Conflict, NotFound
from app.models.scenarios import SCENARIO_DRAFT, SCENARIO_ERROR, SCENARIO_LIVE, SCENARIO_PAUSED, Scenario
from app.scenarios import store as definitions
from app.scenarios.schema import EnrollAction, ScenarioDef

# action → the states it may start from, and where it leads
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "publish": ((SCENARIO_DRAFT, SCENARIO_PAUSED, SCENARIO_ERROR), SCENARIO_LIVE),
    "pause": ((SCENARIO_LIVE,), SCENARIO_PAUSED),
    "resume": ((SCENARIO_PAUSED,), SCENARIO_LIVE),
}

INLINE_AUDIENCE_LIMIT = 2000  # bigger ``audience: all`` enrollments are left to a job / the CLI's progress bar


def get_scenario(session: Session, scenario_id: str, *, lock: bool = False) -> Scenario:
    """The scenario row; NotFound otherwise."""
    scenario = session.get(Scenario, scenario_id, with_for_update=lock or None)
    if scenario is None:
        raise NotFound(f"scenario {scenario_id!r} does not exist")
    return scenario


def settle_audience(session: Session, scenario_id: str, now: datetime) -> int | None:
    """First publish of an ``audience: all`` scenario: enroll a small audience now (same
    transaction); None when it is too big and the caller must run ``enroll_audience`` separately."""
    if audience_size(session, scenario_id) > INLINE_AUDIENCE_LIMIT:
        return None
    return enroll_audience(session, scenario_id, now)


def set_status(scenario: Scenario, scn: ScenarioDef, target: str, now: datetime) -> bool:
    """Move ``scenario`` to ``target``; whether its existing friends must now be enrolled."""
    first_publish = target == SCENARIO_LIVE and scenario.published_at is None
    audience = target == SCENARIO_LIVE and enrolls_audience(scenario, scn)
    scenario.status, scenario.status_reason, scenario.updated_at = target, None, now
    if first_publish:
        scenario.published_at = now
    return audience


def apply_status(scenario: Scenario, scn: ScenarioDef, now: datetime) -> bool:
    """Upload: the document's ``status`` wins (scenarios kept in git carry their state).

    References were checked by the upload, so going live is always allowed here.
    """
    if scenario.status == scn.status:
        return False
    return set_status(scenario, scn, scn.status, now)


def _broken_references(session: Session, scn: ScenarioDef) -> list[str]:
    targets = {a.enroll for rule in scn.rules for a in rule.do if isinstance(a, EnrollAction)}
    if not targets:
        return []
    existing = set(session.scalars(sa.select(Scenario.id).where(Scenario.id.in_(targets))))
    return sorted(targets - existing)


def _broken_reason(missing: list[str]) -> str:
    return "enroll: points to a missing scenario: " + ", ".join(missing)


def checked_transition(session: Session, scenario: Scenario, action: str) -> tuple[ScenarioDef, str]:
    """The definition and target state of ``action``; Conflict when the state or references forbid it."""
    allowed_from, target = TRANSITIONS[action]
    if scenario.status not in allowed_from:
        raise Conflict(f"cannot {action} scenario {scenario.id!r}: it is {scenario.status} "
                       f"({action} works from {', '.join(allowed_from)})")
    scn = definitions.definition_for(session, scenario.id, scenario.version)
    if target == SCENARIO_LIVE:
        missing = _broken_references(session, scn)
        if missing:
            raise Conflict(f"cannot {action} scenario {scenario.id!r}: {_broken_reason(missing)}")
    return scn, target


def target_impact(session: Session, scenario: Scenario, scn: ScenarioDef, target: str, now: datetime) -> Impact:
    """What moving to ``target`` sends at once: going live is measured, anything else sends nothing."""
    return going_live(session, scenario, scn, now) if target == SCENARIO_LIVE else nothing(session, scn.channel, now)


def check_references(session: Session, now: datetime) -> list[str]:
    """Put live scenarios whose ``enroll:`` targets vanished into ``error``; returns their ids."""
    broken = []
    for scenario in session.scalars(sa.select(Scenario).where(Scenario.status == SCENARIO_LIVE)):
        missing = _broken_references(session, definitions.definition_for(session, scenario.id, scenario.version))
        if missing:
            scenario.status, scenario.status_reason, scenario.updated_at = SCENARIO_ERROR, _broken_reason(missing), now
            broken.append(scenario.id)
    return broken
