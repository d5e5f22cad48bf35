"""Scenario lifecycle: draft → live ⇄ paused, ``error`` when a live scenario's references broke, delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.audience import audience_size, enroll_audience
from app.errors import Conflict, NotFound
from app.models.scenarios import SCENARIO_DRAFT, SCENARIO_ERROR, SCENARIO_LIVE, SCENARIO_PAUSED, Scenario
from app.scenarios import store as definitions
from app.scenarios.schema import EnrollAction, ScenarioDef
from app.services.scenario_impact import Impact, enrolls_audience, going_live, guard, nothing

# action → the states it may start from, and where it leads
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "publish": ((SCENARIO_DRAFT, SCENARIO_PAUSED, SCENARIO_ERROR), SCENARIO_LIVE),
    "pause": ((SCENARIO_LIVE,), SCENARIO_PAUSED),
    "resume": ((SCENARIO_PAUSED,), SCENARIO_LIVE),
}


INLINE_AUDIENCE_LIMIT = 2000  # bigger ``audience: all`` enrollments are left to a job / the CLI's progress bar


@dataclass(frozen=True)
class Transition:
    scenario: Scenario
    needs_audience: bool  # existing friends still to enroll (too many to do inline): run ``enroll_audience``
    audience_enrolled: int = 0  # existing friends enrolled inline
    impact: Impact | None = None  # what going live was measured to do before acting
    status_change: dict[str, str] | None = None  # {"from": ..., "to": ...}


@dataclass(frozen=True)
class TransitionPlan:
    """A dry run of publish / pause / resume: nothing was changed."""

    scenario: Scenario
    impact: Impact
    status_change: dict[str, str]


def settle_audience(session: Session, scenario_id: str, now: datetime) -> int | None:
    """First publish of an ``audience: all`` scenario: enroll a small audience now (same
    transaction); None when it is too big and the caller must run ``enroll_audience`` separately."""
    if audience_size(session, scenario_id) > INLINE_AUDIENCE_LIMIT:
        return None
    return enroll_audience(session, scenario_id, now)


def get_scenario(session: Session, scenario_id: str, *, lock: bool = False) -> Scenario:
    """The scenario row; NotFound otherwise."""
    scenario = session.get(Scenario, scenario_id, with_for_update=lock or None)
    if scenario is None:
        raise NotFound(f"scenario {scenario_id!r} does not exist")
    return scenario


def _set_status(scenario: Scenario, scn: ScenarioDef, target: str, now: datetime) -> bool:
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
    return _set_status(scenario, scn, scn.status, now)


def _broken_references(session: Session, scn: ScenarioDef) -> list[str]:
    targets = {a.enroll for rule in scn.rules for a in rule.do if isinstance(a, EnrollAction)}
    if not targets:
        return []
    existing = set(session.scalars(sa.select(Scenario.id).where(Scenario.id.in_(targets))))
    return sorted(targets - existing)


def _broken_reason(missing: list[str]) -> str:
    return "enroll: points to a missing scenario: " + ", ".join(missing)


def _checked(session: Session, scenario: Scenario, action: str) -> tuple[ScenarioDef, str]:
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


def _impact(session: Session, scenario: Scenario, scn: ScenarioDef, target: str, now: datetime) -> Impact:
    return going_live(session, scenario, scn, now) if target == SCENARIO_LIVE else nothing(session, scn.channel, now)


def transition_impact(session: Session, scenario_id: str, action: str, now: datetime) -> TransitionPlan:
    """``?dry_run=1``: what ``action`` would do (same checks, same impact code), changing nothing."""
    scenario = get_scenario(session, scenario_id)
    scn, target = _checked(session, scenario, action)
    return TransitionPlan(scenario, _impact(session, scenario, scn, target, now),
                          {"from": scenario.status, "to": target})


def transition(session: Session, scenario_id: str, action: str, now: datetime, *, force: bool = False) -> Transition:
    """Apply ``publish`` / ``pause`` / ``resume``; Conflict when the current state does not allow it,
    :class:`OverQuota` (409) when going live would push more at once than the quota left, unless ``force``."""
    scenario = get_scenario(session, scenario_id, lock=True)
    scn, target = _checked(session, scenario, action)
    impact = _impact(session, scenario, scn, target, now)
    guard(scenario_id, action, impact, force=force)
    change = {"from": scenario.status, "to": target}
    if not _set_status(scenario, scn, target, now):
        return Transition(scenario, False, impact=impact, status_change=change)
    session.flush()
    enrolled = settle_audience(session, scenario.id, now)
    return Transition(scenario, enrolled is None, enrolled or 0, impact, change)


def check_references(session: Session, now: datetime) -> list[str]:
    """Put live scenarios whose ``enroll:`` targets vanished into ``error``; returns their ids."""
    broken = []
    for scenario in session.scalars(sa.select(Scenario).where(Scenario.status == SCENARIO_LIVE)):
        missing = _broken_references(session, definitions.definition_for(session, scenario.id, scenario.version))
        if missing:
            scenario.status, scenario.status_reason, scenario.updated_at = SCENARIO_ERROR, _broken_reason(missing), now
            broken.append(scenario.id)
    return broken


def delete(session: Session, scenario_id: str, now: datetime) -> list[str]:
    """Delete a scenario that is not live (with its versions and enrollments); returns the live
    scenarios that went to ``error`` because they enrolled into it."""
    scenario = get_scenario(session, scenario_id, lock=True)
    if scenario.status == SCENARIO_LIVE:
        raise Conflict(f"scenario {scenario_id!r} is live: pause it before deleting it")
    session.delete(scenario)
    session.flush()
    definitions.forget(scenario_id)
    return check_references(session, now)
