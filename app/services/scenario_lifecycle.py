"""Scenario lifecycle use cases: publish, pause, resume (and their dry runs), delete. Each owns its
transaction; the rules they apply are in ``app.delivery.lifecycle``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.delivery.impact import Impact, guard
from app.delivery.lifecycle import (
    check_references,
    checked_transition,
    get_scenario,
    set_status,
    settle_audience,
    target_impact,
)
from app.errors import Conflict
from app.extensions import db
from app.models.scenarios import SCENARIO_LIVE
from app.scenarios import store as definitions
from app.services.scenario_views import ScenarioView, scenario_view


@dataclass(frozen=True)
class Transition:
    scenario: ScenarioView
    needs_audience: bool  # existing friends still to enroll (too many to do inline): hand on after the commit
    audience_enrolled: int = 0  # existing friends enrolled inline
    impact: Impact | None = None  # what going live was measured to do before acting
    status_change: dict[str, str] | None = None  # {"from": ..., "to": ...}


@dataclass(frozen=True)
class TransitionPlan:
    """A dry run of publish / pause / resume: nothing was changed."""

    scenario: ScenarioView
    impact: Impact
    status_change: dict[str, str]


def transition_impact(scenario_id: str, action: str, now: datetime) -> TransitionPlan:
    """``?dry_run=1``: what ``action`` would do (same checks, same impact code), in a read that changes nothing."""
    with db.read() as session:
        scenario = get_scenario(session, scenario_id)
        scn, target = checked_transition(session, scenario, action)
        return TransitionPlan(scenario_view(scenario), target_impact(session, scenario, scn, target, now),
                              {"from": scenario.status, "to": target})


def transition(scenario_id: str, action: str, now: datetime, *, force: bool = False) -> Transition:
    """Apply ``publish`` / ``pause`` / ``resume``; Conflict when the current state does not allow it,
    :class:`OverQuota` (409) when going live would push more at once than the quota left, unless ``force``."""
    with db.transaction() as session:
        scenario = get_scenario(session, scenario_id, lock=True)
        scn, target = checked_transition(session, scenario, action)
        impact = target_impact(session, scenario, scn, target, now)
        guard(scenario_id, action, impact, force=force)
        change = {"from": scenario.status, "to": target}
        if not set_status(scenario, scn, target, now):
            return Transition(scenario_view(scenario), False, impact=impact, status_change=change)
        session.flush()
        enrolled = settle_audience(session, scenario.id, now)
        return Transition(scenario_view(scenario), enrolled is None, enrolled or 0, impact, change)


def delete(scenario_id: str, now: datetime) -> list[str]:
    """Delete a scenario that is not live (with its versions and enrollments); returns the live
    scenarios that went to ``error`` because they enrolled into it."""
    with db.transaction() as session:
        scenario = get_scenario(session, scenario_id, lock=True)
        if scenario.status == SCENARIO_LIVE:
            raise Conflict(f"scenario {scenario_id!r} is live: pause it before deleting it")
        session.delete(scenario)
        session.flush()
        definitions.forget(scenario_id)
        return check_references(session, now)
