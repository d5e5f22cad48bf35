"""Impact first (SPEC §11): what publishing, resuming or uploading would do, asked without acting.

One function, :func:`going_live`, answers for every action that makes a scenario live, and the
actions call it themselves before acting, so a dry run and the act it previews cannot drift:
the audience is counted in SQL over the conditions ``enroll_audience`` reads with
(``app.delivery.audience``) and the steps due at once by ``app.scenarios.timeline`` (the code the
scheduler runs), per threshold of start date rather than per friend.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.audience import audience_impact
from app.errors import Conflict, NotFound
from app.models.delivery import ENROLLMENT_ACTIVE, Enrollment
from app.models.scenarios import SCENARIO_LIVE, Scenario
from app.quota import tracker
from app.scenarios.schema import ScenarioDef
from app.scenarios.store import definition_for
from app.scenarios.timeline import steps_due_by


@dataclass(frozen=True)
class Impact:
    """Friends who would enter, pushes due at once (quota units: one per friend and step), quota left
    this month (None: unlimited); ``estimated`` when the audience was too varied to count exactly
    (a start date in an attribute with very many distinct values, see ``audience_counts``)."""

    would_enroll: int
    messages_due_now: int
    quota_left: int | None
    estimated: bool = False

    @property
    def over_quota(self) -> bool:
        """Whether the pushes due at once exceed what is left of this month's quota."""
        return self.quota_left is not None and self.messages_due_now > self.quota_left

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"would_enroll": self.would_enroll, "messages_due_now": self.messages_due_now,
                               "quota_left": self.quota_left}
        if self.estimated:  # only then: exact answers keep the shape SPEC §11 gives
            out["estimated"] = True
        return out


class OverQuota(Conflict):
    """Acting would push more messages at once than the month has left; ``force`` overrides."""

    def __init__(self, subject: str, action: str, impact: Impact) -> None:
        super().__init__(f"{action} of {subject} would send {impact.messages_due_now} message(s) now "
                         f"but only {impact.quota_left} are left this month: confirm with force=1")
        self.impact = impact
        self.details = [{"path": "quota", "message": "messages_due_now exceeds quota_left", **impact.to_dict()}]


def enrolls_audience(scenario: Scenario, scn: ScenarioDef) -> bool:
    """Whether making this scenario live enrolls existing friends (its first publish, ``audience: all``)."""
    return scenario.published_at is None and scn.start.audience == "all"


def quota_left(session: Session, channel: str, now: datetime) -> int | None:
    """What is left of this month's quota of ``channel`` (None: no limit known)."""
    return tracker.status(session, channel, now).remaining


def backlog_due_now(session: Session, scenario_id: str, now: datetime) -> int:
    """Pushes due at once from friends already in the scenario (those a pause held back), counted
    per identical schedule with the scheduler's timeline."""
    columns = (Enrollment.scenario_version, Enrollment.next_step_id, Enrollment.start_at, Enrollment.next_run_at)
    rows = session.execute(
        sa.select(*columns, sa.func.count()).where(
            Enrollment.scenario_id == scenario_id, Enrollment.status == ENROLLMENT_ACTIVE,
            Enrollment.next_run_at.is_not(None), Enrollment.next_run_at <= now, Enrollment.next_step_id.is_not(None))
        .group_by(*columns)).all()
    total = 0
    definitions: dict[int, ScenarioDef | None] = defaultdict(lambda: None)
    for version, step_id, start_at, due, count in rows:
        if version not in definitions:
            try:
                definitions[version] = definition_for(session, scenario_id, version)
            except NotFound:
                definitions[version] = None
        scn = definitions[version]
        if scn is not None and step_id is not None and due is not None:
            total += int(count) * steps_due_by(scn, str(step_id), start_at, due, now)
    return total


def going_live(session: Session, scenario: Scenario, scn: ScenarioDef, now: datetime) -> Impact:
    """The impact of ``scenario`` (a stored row, or a new one not stored yet) going live with ``scn``."""
    entering = audience_impact(session, scenario, scn, now) if enrolls_audience(scenario, scn) else None
    backlog = backlog_due_now(session, scenario.id, now) if scenario.status != SCENARIO_LIVE else 0
    return Impact(entering.would_enroll if entering else 0, (entering.messages_due_now if entering else 0) + backlog,
                  quota_left(session, scn.channel, now), estimated=entering.estimated if entering else False)


def nothing(session: Session, channel: str, now: datetime) -> Impact:
    """The impact of an action that sends nothing (a pause, an upload that does not go live)."""
    return Impact(0, 0, quota_left(session, channel, now))


def guard(scenario_id: str, action: str, impact: Impact, *, force: bool, subject: str | None = None) -> None:
    """Refuse (409 with the impact) an act whose pushes due at once exceed the quota left, unless forced."""
    if impact.over_quota and not force:
        raise OverQuota(subject or f"scenario {scenario_id!r}", action, impact)
