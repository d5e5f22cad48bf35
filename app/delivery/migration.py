"""A new version of a live scenario: what changed, who stands where, and moving friends in flight.

Friends keep their position by step id. A friend waiting for a removed step moves on to the next
step that still exists (see :func:`app.delivery.enrollment.carry_over`) or completes; a friend
waiting for a step whose timing changed gets that step's due time recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.enrollment import carry_over
from app.models.delivery import ENROLLMENT_ACTIVE, ENROLLMENT_COMPLETED, Enrollment
from app.scenarios.schema import ScenarioDef
from app.scenarios.timeline import step_due

Change = Literal["changed", "removed"]


@dataclass(frozen=True)
class StepImpact:
    """How many active friends wait for a step that changed or disappeared in the new version."""

    step_id: str
    friends: int
    change: Change

    def to_dict(self) -> dict[str, object]:
        return {"step_id": self.step_id, "friends": self.friends, "change": self.change}


def step_changes(old: ScenarioDef, new: ScenarioDef) -> dict[str, Change]:
    """Steps of ``old`` that ``new`` removed or altered (timing or messages), in ``old``'s order."""
    new_steps = {step.id: step for step in new.steps}
    changes: dict[str, Change] = {}
    for step in old.steps:
        if step.id not in new_steps:
            changes[step.id] = "removed"
        elif new_steps[step.id] != step:
            changes[step.id] = "changed"
    return changes


def _active(scenario_id: str) -> list[sa.ColumnElement[bool]]:
    return [Enrollment.scenario_id == scenario_id, Enrollment.status == ENROLLMENT_ACTIVE]


def step_impact(session: Session, scenario_id: str, changes: dict[str, Change]) -> list[StepImpact]:
    """Active enrollments standing (``next_step_id``) at each changed or removed step."""
    if not changes:
        return []
    counts: dict[str | None, int] = {step_id: count for step_id, count in session.execute(
        sa.select(Enrollment.next_step_id, sa.func.count())
        .where(*_active(scenario_id), Enrollment.next_step_id.in_(list(changes)))
        .group_by(Enrollment.next_step_id)
    )}
    return [StepImpact(step_id, int(counts.get(step_id, 0)), change) for step_id, change in changes.items()]


def _reschedule(session: Session, scenario_id: str, from_step: str, to_step: str, new: ScenarioDef) -> None:
    """Point enrollments waiting for ``from_step`` at ``to_step`` of ``new`` with a fresh due time."""
    index = new.step_index(to_step)
    rows = session.execute(
        sa.select(Enrollment.id, Enrollment.start_at, Enrollment.last_step_at)
        .where(*_active(scenario_id), Enrollment.next_step_id == from_step)
    ).all()
    if not rows:
        return
    updates = [{"row_id": row.id, "step": to_step, "due": step_due(new, index, row.start_at, row.last_step_at)}
               for row in rows]
    table: sa.Table = Enrollment.__table__  # type: ignore[assignment]
    session.connection().execute(
        sa.update(table).where(table.c.id == sa.bindparam("row_id"))
        .values(next_step_id=sa.bindparam("step"), next_run_at=sa.bindparam("due")),
        updates,
    )


def migrate_enrollments(session: Session, scenario_id: str, old: ScenarioDef, new: ScenarioDef, version: int,
                        changes: dict[str, Change], now: datetime) -> None:
    """Move every active enrollment onto ``version`` (= ``new``), keeping positions by step id."""
    session.flush()
    for step_id, change in changes.items():
        target = carry_over(old, new, step_id)
        if target is None:
            session.execute(
                sa.update(Enrollment).where(*_active(scenario_id), Enrollment.next_step_id == step_id)
                .values(status=ENROLLMENT_COMPLETED, next_step_id=None, next_run_at=None, finished_at=now),
                execution_options={"synchronize_session": False},
            )
        elif change == "removed" or new.steps[new.step_index(step_id)].at != old.steps[old.step_index(step_id)].at:
            _reschedule(session, scenario_id, step_id, target, new)
    session.execute(
        sa.update(Enrollment).where(*_active(scenario_id)).values(scenario_version=version),
        execution_options={"synchronize_session": False},
    )
    session.expire_all()
