"""``from: birthday`` repeats every year: a finished cycle is followed by next year's.

The scheduler calls :func:`renew_yearly` with the enrollments of birthday scenarios that a claim
has just completed (a handful per claim: other scenarios never reach this code), so the cost per
due row of the claim stays flat.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.start_dates import BIRTHDAY_ATTRIBUTE, birthday_parts, in_window
from app.errors import NotFound
from app.models.delivery import ENROLLMENT_ACTIVE, Enrollment
from app.models.friends import FRIEND_ACTIVE, Friend
from app.models.scenarios import SCENARIO_LIVE, Scenario
from app.scenarios.schema import ScenarioDef
from app.scenarios.store import definition_for
from app.scenarios.timeline import after_end, first_step, following_yearly

log = logging.getLogger(__name__)


def is_yearly(scn: ScenarioDef) -> bool:
    """Whether a scenario's cycles repeat every year (its start date is the friend's birthday)."""
    return scn.start.from_ == "birthday"


def renew_yearly(session: Session, enrollment_ids: Sequence[int], now: datetime) -> int:
    """Start next year's cycle for these just-completed birthday enrollments; how many started.

    The new cycle counts from the birthday after the finished cycle's start date, so a cycle that
    finished late still starts the right year. Friends who blocked, opted out (when the scenario
    respects it) or lost their birthday attribute get no new cycle.
    """
    if not enrollment_ids:
        return 0
    rows = session.execute(
        sa.select(Enrollment.friend_id, Enrollment.scenario_id, Enrollment.cycle, Enrollment.start_at,
                  Friend.attributes, Friend.status, Friend.opted_out, Scenario.version, Scenario.status)
        .join(Friend, Friend.id == Enrollment.friend_id).join(Scenario, Scenario.id == Enrollment.scenario_id)
        .where(Enrollment.id.in_(list(enrollment_ids)))
    ).all()
    started = 0
    for friend_id, scenario_id, cycle, start_at, attributes, friend_status, opted_out, version, status in rows:
        if status != SCENARIO_LIVE or friend_status != FRIEND_ACTIVE:
            continue
        try:
            scn = definition_for(session, scenario_id, version)
        except NotFound:
            continue
        parts = birthday_parts((attributes or {}).get(BIRTHDAY_ATTRIBUTE))
        if parts is None or (scn.respect_opt_out and opted_out):
            continue
        start = following_yearly(parts[0], parts[1], scn.tz, start_at)
        first = first_step(scn, start)
        if first is None or not in_window(scn, start) or after_end(scn, first[1]):
            continue
        session.add(Enrollment(friend_id=friend_id, scenario_id=scenario_id, scenario_version=version,
                               cycle=cycle + 1, status=ENROLLMENT_ACTIVE, start_at=start, next_step_id=first[0],
                               next_run_at=first[1], created_at=now))
        started += 1
    if started:
        session.flush()
        log.info("birthday scenarios: %d next-year cycles started", started)
    return started
