"""When each step is due: pure functions over a scenario and instants (clock passed in).

All instants in and out are aware UTC; wall-clock rules (``day``/``time``, send windows) are
computed in the scenario's time zone. A nonexistent local time (DST gap) moves forward by the
gap; an ambiguous one (DST fold) takes the first occurrence. ``after``/``wait`` are elapsed time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.scenarios.render import render_messages
from app.scenarios.schema import WEEKDAYS, AfterAt, DayAt, ScenarioDef, SendWindowDef


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("expected an aware datetime (UTC), got a naive one")
    return value.astimezone(UTC)


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """Local wall time → UTC; fold=0 maps a DST-gap time forward by the gap and a repeated time
    to its first occurrence (RFC 5545 behaviour)."""
    return datetime.combine(day, at, tzinfo=tz).replace(fold=0).astimezone(UTC)


def apply_send_window(due: datetime, window: SendWindowDef | None, tz: ZoneInfo) -> datetime:
    """``due`` if it falls inside the window, else the window's next opening.

    A window whose ``to`` is earlier than ``from`` runs past midnight (its day is the opening day);
    ``from`` == ``to`` means the whole day.
    """
    due = _utc(due)
    if window is None:
        return due
    local_day = due.astimezone(tz).date()
    for offset in range(-1, 9):  # -1: an overnight window opened yesterday may still be open
        day = local_day + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in window.days:
            continue
        opens = local_to_utc(day, window.from_, tz)
        closes_day = day + timedelta(days=1) if window.to <= window.from_ else day
        closes = local_to_utc(closes_day, window.to, tz)
        if opens <= due < closes:
            return due
        if due < opens:
            return opens
    return due  # unreachable: days is non-empty, so an opening exists within a week


def _raw_due(scn: ScenarioDef, index: int, start_at: datetime, previous_at: datetime | None) -> datetime:
    at = scn.steps[index].at
    if isinstance(at, AfterAt):
        return start_at + at.after
    if isinstance(at, DayAt):
        local_start = start_at.astimezone(scn.tz).date()
        return max(local_to_utc(local_start + timedelta(days=at.day), at.time, scn.tz), start_at)
    return (previous_at if previous_at is not None else start_at) + at.wait


def step_due(scn: ScenarioDef, index: int, start_at: datetime, previous_at: datetime | None) -> datetime:
    """When step ``index`` is due for a cycle that started at ``start_at``.

    ``previous_at`` is the previous step's send time (or due time): ``wait`` counts from it (from
    ``start_at`` for the first step), and no step is due before it, so order is kept. The result is
    then moved into the send window.
    """
    start_at = _utc(start_at)
    previous_at = _utc(previous_at) if previous_at is not None else None
    due = _raw_due(scn, index, start_at, previous_at)
    if previous_at is not None:
        due = max(due, previous_at)
    return apply_send_window(due, scn.send_window, scn.tz)


def first_step(scn: ScenarioDef, start_at: datetime) -> tuple[str, datetime] | None:
    """The first step's id and due time (None for a scenario without steps)."""
    if not scn.steps:
        return None
    return scn.steps[0].id, step_due(scn, 0, start_at, None)


def next_step(scn: ScenarioDef, after_step_id: str, start_at: datetime,
              previous_at: datetime | None) -> tuple[str, datetime] | None:
    """The step after ``after_step_id`` with its due time; None when the scenario is finished.

    Raises KeyError when ``after_step_id`` is not in this version of the scenario.
    """
    index = scn.step_index(after_step_id) + 1
    if index >= len(scn.steps):
        return None
    return scn.steps[index].id, step_due(scn, index, start_at, previous_at)


@dataclass(frozen=True)
class TimelineEntry:
    """One planned delivery of a preview; ``messages`` are rendered with the preview's attributes.
    ``moved_from_utc``: the time the step asked for when the send window moved it (None otherwise)."""

    step_id: str
    due_utc: datetime
    due_local: datetime
    messages_count: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    moved_from_utc: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (ISO 8601 strings)."""
        out = {"step_id": self.step_id, "due_utc": self.due_utc.isoformat(), "due_local": self.due_local.isoformat(),
               "messages_count": self.messages_count, "messages": self.messages}
        if self.moved_from_utc is not None:  # only steps the send window moved carry their original time
            out["moved_from_utc"] = self.moved_from_utc.isoformat()
        return out


def timeline(scn: ScenarioDef, start_at: datetime, *, attributes: dict[str, Any] | None = None,
             display_name: str | None = None) -> list[TimelineEntry]:
    """Every step's due time for a cycle starting at ``start_at``, assuming each step is sent when due."""
    entries: list[TimelineEntry] = []
    previous: datetime | None = None
    for index, step in enumerate(scn.steps):
        due = step_due(scn, index, start_at, previous)
        # the time the step asks for; a window can also move it by moving the step before it
        asked = _raw_due(scn, index, _utc(start_at), _utc(previous) if previous is not None else None)
        moved = asked if scn.send_window is not None and asked != due else None
        rendered = render_messages(step.messages, display_name=display_name, attributes=attributes or {})
        entries.append(TimelineEntry(step.id, due, due.astimezone(scn.tz), len(step.messages), rendered, moved))
        previous = due
    return entries
