"""How many messages the rest of the month needs, and the day the limit will be reached.

Demand = what is already used + deliveries waiting for quota (queued, sending without a
reservation, held: all due now) + every step the active enrollments of live scenarios will reach
before the month ends, walked with the engine's own scheduling (``timeline.next_step``) and
assuming each step is sent when due. One message per recipient and step (LINE counts recipients).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models.delivery import (
    DELIVERY_HELD,
    DELIVERY_QUEUED,
    DELIVERY_SENDING,
    ENROLLMENT_ACTIVE,
    Delivery,
    Enrollment,
)
from app.models.scenarios import SCENARIO_LIVE, Scenario
from app.quota.months import day_of, month_bounds, month_last_day
from app.quota.tracker import status
from app.quota.usage import quota_config
from app.scenarios.schema import ScenarioDef
from app.scenarios.store import definition_for
from app.scenarios.timeline import after_end, next_step


class ForecastDay(NamedTuple):
    """Messages expected on one local day of the quota month."""

    day: date
    messages: int


@dataclass(frozen=True)
class Forecast:
    """The rest of the month, today included (``days`` run from today to the month's last day)."""

    days: list[ForecastDay]
    month_total_projected: int
    limit: int | None
    limit_reached_on: date | None
    used: int = 0
    channel: str = ""
    month: str = ""
    over_by: int = 0  # messages that will not fit this month (held or skipped)
    by_scenario: dict[str, int] = field(default_factory=dict)

    @property
    def at_risk(self) -> bool:
        """The limit is not reached yet, but what is scheduled this month passes it."""
        return self.limit is not None and self.used < self.limit and self.over_by > 0

    def to_dict(self) -> dict[str, object]:
        return {"at_risk": self.at_risk,
            "channel": self.channel, "month": self.month, "used": self.used, "limit": self.limit,
            "month_total_projected": self.month_total_projected, "over_by": self.over_by,
            "limit_reached_on": self.limit_reached_on.isoformat() if self.limit_reached_on else None,
            "days": [{"day": d.day.isoformat(), "messages": d.messages} for d in self.days],
            "by_scenario": self.by_scenario,
        }


def forecast(session: Session, channel: str, now: datetime) -> Forecast:
    """Project this month's usage for ``channel`` from the scheduled pipeline."""
    timezone = quota_config().timezone
    quota = status(session, channel, now)
    _, month_end = month_bounds(now, timezone)
    today = day_of(now, timezone)
    per_day: Counter[date] = Counter()
    by_scenario: Counter[str] = Counter()

    waiting = _waiting_deliveries(session, channel)
    for scenario_id, count in waiting.items():
        per_day[today] += count
        by_scenario[scenario_id] += count

    memo: dict[tuple[str, int, str, datetime, datetime], list[datetime]] = {}
    for group in _enrollment_groups(session, channel, month_end):
        try:
            scn = definition_for(session, group.scenario_id, group.scenario_version)
        except Exception:  # noqa: BLE001 - a broken definition is the engine's to report, not the forecast's
            continue
        key = (group.scenario_id, group.scenario_version, group.next_step_id, group.start_at, group.next_run_at)
        if key not in memo:
            memo[key] = _walk(scn, group.next_step_id, group.start_at, group.next_run_at, now, month_end)
        for due in memo[key]:
            per_day[day_of(due, timezone)] += group.friends
            by_scenario[group.scenario_id] += group.friends

    days = _calendar(today, month_last_day(now, timezone), per_day)
    projected = quota.used + sum(d.messages for d in days)
    return Forecast(
        days=days,
        month_total_projected=projected,
        limit=quota.limit,
        limit_reached_on=_reached_on(quota.used, quota.limit, days),
        used=quota.used,
        channel=channel,
        month=quota.month,
        over_by=max(0, projected - quota.limit) if quota.limit is not None else 0,
        by_scenario=dict(by_scenario),
    )


def _waiting_deliveries(session: Session, channel: str) -> dict[str, int]:
    """Deliveries that will need quota as soon as they can: not yet reserved, not finished."""
    rows = session.execute(
        sa.select(Delivery.scenario_id, sa.func.count())
        .where(Delivery.channel == channel, Delivery.quota_reserved.is_(False),
               Delivery.status.in_((DELIVERY_QUEUED, DELIVERY_SENDING, DELIVERY_HELD)))
        .group_by(Delivery.scenario_id)
    ).all()
    return {scenario_id: int(count) for scenario_id, count in rows}


class _Group(NamedTuple):
    scenario_id: str
    scenario_version: int
    next_step_id: str
    start_at: datetime
    next_run_at: datetime
    friends: int


def _enrollment_groups(session: Session, channel: str, month_end: datetime) -> list[_Group]:
    """Active enrollments of live scenarios with a step due this month, identical schedules merged."""
    columns = (Enrollment.scenario_id, Enrollment.scenario_version, Enrollment.next_step_id,
               Enrollment.start_at, Enrollment.next_run_at)
    rows = session.execute(
        sa.select(*columns, sa.func.count())
        .join(Scenario, Scenario.id == Enrollment.scenario_id)
        .where(Scenario.channel == channel, Scenario.status == SCENARIO_LIVE,
               Enrollment.status == ENROLLMENT_ACTIVE, Enrollment.next_run_at.is_not(None),
               Enrollment.next_run_at < month_end, Enrollment.next_step_id.is_not(None))
        .group_by(*columns)
    ).all()
    return [_Group(row[0], row[1], str(row[2]), row[3], row[4], int(row[5])) for row in rows
            if row[2] is not None and row[4] is not None]


def _walk(scn: ScenarioDef, step_id: str, start_at: datetime, due: datetime, now: datetime,
          month_end: datetime) -> list[datetime]:
    """Due times of ``step_id`` and the steps after it that fall before ``month_end``."""
    dues: list[datetime] = []
    if step_id not in {step.id for step in scn.steps}:
        return dues  # removed in this version: the engine stops such an enrollment
    current_id, current_due = step_id, max(due, now)  # an overdue step goes out now
    for _ in range(len(scn.steps)):
        if current_due >= month_end or after_end(scn, current_due):
            break  # steps after the scenario's ``end`` are skipped, never sent
        dues.append(current_due)
        following = next_step(scn, current_id, start_at, current_due)
        if following is None:
            break
        current_id, current_due = following
    return dues


def _calendar(first: date, last: date, per_day: Counter[date]) -> list[ForecastDay]:
    days = []
    day = first
    while day <= last:
        days.append(ForecastDay(day, per_day.get(day, 0)))
        day += timedelta(days=1)
    return days


def _reached_on(used: int, limit: int | None, days: list[ForecastDay]) -> date | None:
    """The first day on which the cumulative usage reaches the limit."""
    if limit is None:
        return None
    total = used
    if total >= limit and days:
        return days[0].day
    for entry in days:
        total += entry.messages
        if total >= limit:
            return entry.day
    return None
