"""The dry run of an ``audience: all`` enrollment counted in SQL, not friend by friend (SPEC §11).

Who would enter is the same SQL condition ``enroll_audience`` reads with (filter compiled by
``app.friends.sql``); what they cost at once comes from the timeline:

- a start date in a column (``followed_at``, ``last_message_at``): the steps a friend is due at
  once never grow with a later start (every step's due time is non-decreasing in the start, send
  windows and holidays included), so for each k the friends due k steps or more are those who
  started on or before an instant found by bisection over the pure timeline. One aggregate
  query answers every k: the cost is independent of the number of friends.
- a start date in an attribute (``birthday``, ``attribute:X``): friends are counted per distinct
  value in SQL and each value is resolved once; past ``max_groups`` values the rest is estimated
  from the values read (``estimated``), so a dry run stays bounded whatever the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.start_dates import in_window, resolve_start
from app.friends.sql import attribute_value
from app.scenarios.schema import ScenarioDef
from app.scenarios.timeline import first_step, local_to_utc, steps_due_by

MAX_ATTRIBUTE_GROUPS = 100_000  # distinct start values resolved in Python before the rest is estimated
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class AudienceImpact:
    """What ``enroll_audience`` would do now: friends entering, and steps they are due at once
    (``estimated``: extrapolated past :data:`MAX_ATTRIBUTE_GROUPS` distinct start values)."""

    would_enroll: int
    messages_due_now: int
    estimated: bool = False


def due_at_once(scn: ScenarioDef, start: datetime, now: datetime) -> int:
    """Steps a friend starting at ``start`` is due by ``now`` when entering now (0: none, or no steps)."""
    first = first_step(scn, start)
    return steps_due_by(scn, first[0], start, first[1], now) if first is not None else 0


def _last_with(pred: Callable[[datetime], bool], low: datetime, high: datetime) -> datetime:
    """The latest instant in ``[low, high]`` (to the microsecond) where ``pred`` holds, given that it
    holds at ``low`` and, once false, stays false."""
    if pred(high):
        return high
    lo, hi = 0, (high - low) // _MICROSECOND  # pred(low + lo) is true, pred(low + hi) false
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if pred(low + middle * _MICROSECOND):
            lo = middle
        else:
            hi = middle
    return low + lo * _MICROSECOND


def _window_bounds(scn: ScenarioDef, column: Any) -> list[sa.ColumnElement[bool]]:
    """``start.window`` (local dates, inclusive) as instants on the start column."""
    window, bounds = scn.start.window, []
    if window is not None and window.from_ is not None:
        bounds.append(column >= local_to_utc(window.from_, time(0, 0), scn.tz))
    if window is not None and window.until is not None:
        bounds.append(column < local_to_utc(window.until + timedelta(days=1), time(0, 0), scn.tz))
    return bounds


def by_start_column(session: Session, scn: ScenarioDef, conditions: list[sa.ColumnElement[bool]], column: Any,
                    now: datetime) -> AudienceImpact:
    """The impact when the start is a column: one query for the range, one for every threshold."""
    if not scn.steps:
        return AudienceImpact(0, 0)
    where = [*conditions, column.is_not(None), *_window_bounds(scn, column)]
    low, high, entering = session.execute(
        sa.select(sa.func.min(column), sa.func.max(column), sa.func.count()).where(*where)).one()
    if not entering:
        return AudienceImpact(0, 0)
    assert in_window(scn, low) and in_window(scn, high), "start.window bounds disagree with in_window"
    most = due_at_once(scn, low, now)  # the earliest start is due the most steps
    if most == 0:
        return AudienceImpact(int(entering), 0)

    def due_at_least(k: int) -> Callable[[datetime], bool]:
        return lambda start: due_at_once(scn, start, now) >= k

    thresholds = [_last_with(due_at_least(k), low, high) for k in range(1, most + 1)]
    counts = session.execute(sa.select(*(sa.func.count().filter(column <= t) for t in thresholds))
                             .where(*where)).one()
    return AudienceImpact(int(entering), sum(int(n) for n in counts))


def by_start_attribute(session: Session, scn: ScenarioDef, conditions: list[sa.ColumnElement[bool]], name: str,
                       now: datetime, *, max_groups: int | None = None) -> AudienceImpact:
    """The impact when the start is in an attribute: counted per distinct value, each resolved once
    (at most ``max_groups``, default :data:`MAX_ATTRIBUTE_GROUPS`; past that, estimated)."""
    max_groups = MAX_ATTRIBUTE_GROUPS if max_groups is None else max_groups
    value = attribute_value(session.get_bind().dialect.name, name)
    groups = session.execute(sa.select(value, sa.func.count()).where(*conditions, value.is_not(None))
                             .group_by(value).order_by(value).limit(max_groups + 1)).all()
    entering, due_now, looked_at = 0, 0, 0
    for raw, count in groups[:max_groups]:
        looked_at += int(count)
        start = resolve_start(scn, followed_at=None, last_message_at=None, attributes={name: raw}, trigger_time=now)
        if start is None or not in_window(scn, start) or not scn.steps:
            continue
        entering += int(count)
        due_now += int(count) * due_at_once(scn, start, now)
    if len(groups) <= max_groups:
        return AudienceImpact(entering, due_now)
    total = int(session.scalar(sa.select(sa.func.count()).where(*conditions, value.is_not(None))) or 0)
    scale = total / looked_at if looked_at else 0.0
    return AudienceImpact(round(entering * scale), round(due_now * scale), estimated=True)
