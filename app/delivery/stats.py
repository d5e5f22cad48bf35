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
    DELIVERY_SKIPPED,
    ENROLLMENT_ACTIVE,
    ENROLLMENT_COMPLETED,
    ENROLLMENT_STOPPED,
    Delivery,
    Enrollment,
    GoalConversion,
    StepReply,
)
from app.models.measure import LinkClick
from app.models.scenarios import Scenario
from app.scenarios.store import definition_for


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
    # SPEC §10
    clicks: int = 0  # every click on the step's tracked links
    unique_clicks: int = 0  # first click per friend and link
    clickers: int = 0  # distinct friends who clicked at least one of its links
    click_rate: float | None = None  # friends who clicked at least once ÷ friends who received the step
    blocked_after: int = 0  # = blocked
    skipped: int = 0  # blocked / opted out / condition / quota skip before sending
    conversions: dict[str, int] = field(default_factory=dict)  # goals reached while this was the last step
    conversion_rate: dict[str, float | None] = field(default_factory=dict)  # ÷ recipients


@dataclass(frozen=True)
class ScenarioStats:
    totals: ScenarioTotals
    steps: list[StepStats] = field(default_factory=list)
    goals: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of the API and ``scenarios stats --json``: the totals, the steps, the goals and
        (SPEC §10) ``enrolled``, ``conversions`` and ``conversion_rate`` per goal at the top level."""
        out = asdict(self)
        enrolled = self.totals.enrolled
        out["scenario_id"] = self.totals.scenario_id
        out["enrolled"] = enrolled
        out["conversions"] = dict(self.goals)
        out["conversion_rate"] = {goal: (n / enrolled if enrolled else None) for goal, n in self.goals.items()}
        return out


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
    for step, n in session.execute(_real(
            sa.select(Delivery.step_id, sa.func.count())
            .where(Delivery.scenario_id == scenario_id, Delivery.status == DELIVERY_SKIPPED)
            .group_by(Delivery.step_id))):
        by_step[step]["skipped"] += n
    for step, counts in click_counts(session, scenario_id).items():
        for name, n in counts.items():
            by_step[step][name] += n
    converted = step_conversions(session, scenario_id)
    goal_ids = _goal_ids(session, scenario_id)
    order = _step_order(session, scenario_id)
    order += sorted((set(by_step) | set(converted)) - set(order))
    result = []
    for step in order:
        c = by_step.get(step, {})
        recipients = c.get("recipients", 0)
        conversions = {goal: converted.get(step, {}).get(goal, 0) for goal in goal_ids}
        result.append(StepStats(
            step, c.get(DELIVERY_SENT, 0), c.get(DELIVERY_FAILED, 0), c.get(DELIVERY_HELD, 0),
            recipients, c.get("replies", 0), c.get("blocked", 0),
            c.get("blocked", 0) / recipients if recipients else None,
            clicks=c.get("clicks", 0), unique_clicks=c.get("unique_clicks", 0), clickers=c.get("clickers", 0),
            click_rate=c.get("clickers", 0) / recipients if recipients else None,
            blocked_after=c.get("blocked", 0), skipped=c.get("skipped", 0), conversions=conversions,
            conversion_rate={goal: (n / recipients if recipients else None) for goal, n in conversions.items()}))
    return result


def click_counts(session: Session, scenario_id: str) -> dict[str, dict[str, int]]:
    """step id → clicks, unique clicks (first per friend and link) and clickers (distinct friends)."""
    real = (LinkClick.scenario_id == scenario_id, LinkClick.is_test.is_(False))
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for step, n in session.execute(sa.select(LinkClick.step_id, sa.func.count()).where(*real)
                                   .group_by(LinkClick.step_id)):
        out[step]["clicks"] = n
    pairs = (sa.select(LinkClick.step_id, LinkClick.friend_id, LinkClick.link_index).where(*real).distinct()
             .subquery())
    for step, n in session.execute(sa.select(pairs.c.step_id, sa.func.count()).group_by(pairs.c.step_id)):
        out[step]["unique_clicks"] = n
    for step, n in session.execute(sa.select(LinkClick.step_id, sa.func.count(sa.distinct(LinkClick.friend_id)))
                                   .where(*real).group_by(LinkClick.step_id)):
        out[step]["clickers"] = n
    return out


def step_conversions(session: Session, scenario_id: str) -> dict[str, dict[str, int]]:
    """step id → goal → conversions reached while that step was the last one the cycle had received."""
    conversions = session.execute(sa.select(GoalConversion.enrollment_id, GoalConversion.goal_id,
                                            GoalConversion.converted_at)
                                  .where(GoalConversion.scenario_id == scenario_id)).all()
    if not conversions:
        return {}
    sent: dict[int, list[tuple[Any, str]]] = defaultdict(list)
    enrollment_ids = list({c.enrollment_id for c in conversions})
    for start in range(0, len(enrollment_ids), 1000):
        for enrollment_id, step, sent_at in session.execute(_real(
                sa.select(Delivery.enrollment_id, Delivery.step_id, Delivery.sent_at)
                .where(Delivery.enrollment_id.in_(enrollment_ids[start:start + 1000]),
                       Delivery.status == DELIVERY_SENT))):
            sent[enrollment_id].append((sent_at, step))
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in conversions:
        before = [(at, step) for at, step in sent.get(c.enrollment_id, []) if at is not None and at <= c.converted_at]
        if before:
            out[max(before)[1]][c.goal_id] += 1
    return out


def _goal_ids(session: Session, scenario_id: str) -> list[str]:
    version = session.scalar(sa.select(Scenario.version).where(Scenario.id == scenario_id))
    if version is None:
        return []
    return [goal.id for goal in definition_for(session, scenario_id, version).goals]


def _step_order(session: Session, scenario_id: str) -> list[str]:
    version = session.scalar(sa.select(Scenario.version).where(Scenario.id == scenario_id))
    if version is None:
        raise NotFound(f"scenario {scenario_id!r} does not exist")
    return [step.id for step in definition_for(session, scenario_id, version).steps]


def stats_for(session: Session, scenario_id: str) -> ScenarioStats:
    """Everything the API, the CLI and the dashboard show for one scenario."""
    steps = step_stats(session, scenario_id)
    goals = dict.fromkeys(_goal_ids(session, scenario_id), 0)  # every declared goal, reached or not
    goals.update({goal: n for goal, n in session.execute(
        sa.select(GoalConversion.goal_id, sa.func.count()).where(GoalConversion.scenario_id == scenario_id)
        .group_by(GoalConversion.goal_id))})
    return ScenarioStats(scenario_stats(session, [scenario_id])[0], steps, goals)
