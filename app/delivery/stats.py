"""Scenario statistics: enrollments, deliveries, replies, goals and the block rate of each step.

Block rate of a step = friends whose enrollment was stopped by a block while the last step they
had received was that step ÷ friends who received that step. Test sends never count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from app.delivery.blocking import STOP_BLOCKED
from app.errors import NotFound
from app.models.delivery import (
    DELIVERY_FAILED,
    DELIVERY_HELD,
    DELIVERY_SENT,
    ENROLLMENT_ACTIVE,
    ENROLLMENT_COMPLETED,
    ENROLLMENT_STOPPED,
    Delivery,
    Enrollment,
    GoalConversion,
    StepReply,
)
from app.models.scenarios import Scenario
from app.services.definitions import definition_for


@dataclass(frozen=True)
class ScenarioTotals:
    """One row of the scenarios table (counts of enrollments = cycles, and of deliveries)."""

    scenario_id: str
    enrolled: int = 0
    active: int = 0
    completed: int = 0
    stopped: int = 0
    blocked: int = 0
    sent: int = 0
    failed: int = 0
    held: int = 0
    replies: int = 0
    goal_conversions: int = 0


@dataclass(frozen=True)
class StepStats:
    step_id: str
    sent: int = 0
    failed: int = 0
    held: int = 0
    recipients: int = 0  # distinct friends who received the step
    replies: int = 0  # messages within 24 h after the step
    blocked: int = 0  # friends who blocked while this was the last step they received
    block_rate: float | None = None


@dataclass(frozen=True)
class ScenarioStats:
    totals: ScenarioTotals
    steps: list[StepStats] = field(default_factory=list)
    goals: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _real(statement: Any) -> Any:
    return statement.where(Delivery.is_test.is_(False))


def scenario_stats(session: Session, scenario_ids: list[str] | None = None) -> list[ScenarioTotals]:
    """Totals for every scenario (or the ones named), in a handful of grouped queries."""
    ids = scenario_ids if scenario_ids is not None else list(session.scalars(sa.select(Scenario.id)
                                                                            .order_by(Scenario.id)))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sid, status, reason, n in session.execute(
        sa.select(Enrollment.scenario_id, Enrollment.status, Enrollment.stop_reason, sa.func.count())
        .where(Enrollment.scenario_id.in_(ids))
        .group_by(Enrollment.scenario_id, Enrollment.status, Enrollment.stop_reason)
    ):
        counts[sid]["enrolled"] += n
        counts[sid][{ENROLLMENT_ACTIVE: "active", ENROLLMENT_COMPLETED: "completed"}.get(status, "stopped")] += n
        if status == ENROLLMENT_STOPPED and reason == STOP_BLOCKED:
            counts[sid]["blocked"] += n
    for sid, status, n in session.execute(_real(
        sa.select(Delivery.scenario_id, Delivery.status, sa.func.count())
        .where(Delivery.scenario_id.in_(ids), Delivery.status.in_((DELIVERY_SENT, DELIVERY_FAILED, DELIVERY_HELD)))
        .group_by(Delivery.scenario_id, Delivery.status)
    )):
        counts[sid][status] += n
    for model, name in ((StepReply, "replies"), (GoalConversion, "goal_conversions")):
        for sid, n in session.execute(sa.select(model.scenario_id, sa.func.count())
                                      .where(model.scenario_id.in_(ids)).group_by(model.scenario_id)):
            counts[sid][name] += n
    return [ScenarioTotals(sid, **counts[sid]) for sid in ids]


def _blocked_after(session: Session, scenario_id: str) -> dict[str, int]:
    """step id → friends who blocked while it was the last step they had received."""
    later = aliased(Delivery)
    last_sent = (sa.select(sa.func.max(later.sent_at))
                 .where(later.enrollment_id == Enrollment.id, later.status == DELIVERY_SENT)
                 .scalar_subquery())
    rows = session.execute(
        sa.select(Delivery.step_id, sa.func.count(sa.distinct(Enrollment.friend_id)))
        .join(Enrollment, Enrollment.id == Delivery.enrollment_id)
        .where(Enrollment.scenario_id == scenario_id, Enrollment.status == ENROLLMENT_STOPPED,
               Enrollment.stop_reason == STOP_BLOCKED, Delivery.status == DELIVERY_SENT,
               Delivery.sent_at == last_sent)
        .group_by(Delivery.step_id)
    )
    return {step: n for step, n in rows}


def step_stats(session: Session, scenario_id: str) -> list[StepStats]:
    """Per step, in the order of the current version (steps since removed follow)."""
    by_step: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for step, status, n, friends in session.execute(_real(
        sa.select(Delivery.step_id, Delivery.status, sa.func.count(), sa.func.count(sa.distinct(Delivery.friend_id)))
        .where(Delivery.scenario_id == scenario_id,
               Delivery.status.in_((DELIVERY_SENT, DELIVERY_FAILED, DELIVERY_HELD)))
        .group_by(Delivery.step_id, Delivery.status)
    )):
        by_step[step][status] += n
        if status == DELIVERY_SENT:
            by_step[step]["recipients"] += friends
    for step, n in session.execute(sa.select(StepReply.step_id, sa.func.count())
                                   .where(StepReply.scenario_id == scenario_id).group_by(StepReply.step_id)):
        by_step[step]["replies"] += n
    for step, n in _blocked_after(session, scenario_id).items():
        by_step[step]["blocked"] += n
    order = _step_order(session, scenario_id)
    order += sorted(set(by_step) - set(order))
    result = []
    for step in order:
        c = by_step.get(step, {})
        recipients = c.get("recipients", 0)
        result.append(StepStats(step, c.get(DELIVERY_SENT, 0), c.get(DELIVERY_FAILED, 0), c.get(DELIVERY_HELD, 0),
                                recipients, c.get("replies", 0), c.get("blocked", 0),
                                c.get("blocked", 0) / recipients if recipients else None))
    return result


def _step_order(session: Session, scenario_id: str) -> list[str]:
    version = session.scalar(sa.select(Scenario.version).where(Scenario.id == scenario_id))
    if version is None:
        raise NotFound(f"scenario {scenario_id!r} does not exist")
    return [step.id for step in definition_for(session, scenario_id, version).steps]


def stats_for(session: Session, scenario_id: str) -> ScenarioStats:
    """Everything the API, the CLI and the dashboard show for one scenario."""
    steps = step_stats(session, scenario_id)
    goals = {goal: n for goal, n in session.execute(
        sa.select(GoalConversion.goal_id, sa.func.count()).where(GoalConversion.scenario_id == scenario_id)
        .group_by(GoalConversion.goal_id))}
    return ScenarioStats(scenario_stats(session, [scenario_id])[0], steps, goals)
