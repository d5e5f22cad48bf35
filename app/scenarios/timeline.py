"""When each step is due: pure functions over a scenario and instants (clock passed in).

All instants in and out are aware UTC; wall-clock rules (``day``/``time``, send windows) are
computed in the scenario's time zone. A nonexistent local time (DST gap) moves forward by the
gap; an ambiguous one (DST fold) takes the first occurrence. ``after``/``wait`` are elapsed time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jpholiday

from app.scenarios.render import render_messages
from app.scenarios.schema import WEEKDAYS, AfterAt, DayAt, ScenarioDef, SendWindowDef


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("expected an aware datetime (UTC), got a naive one")
    return value.astimezone(UTC)


def parse_start(text: str | None) -> datetime:
    """A preview's start instant as staff type it: ISO 8601 with or without an offset (without one
    it is local to the scenario: the caller localizes it), a ``datetime-local`` value, or a date.
    A space before the offset is read as ``+`` (a ``+`` in a URL's query decodes to a space)."""
    value = (text or "").strip()
    if not value:
        raise ValueError("missing: expected an ISO 8601 date-time such as 2026-11-01T09:00:00+09:00")
    if value.count(" ") == 1 and "T" in value:
        value = value.replace(" ", "+")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 date-time such as 2026-11-01T09:00:00+09:00, got {text!r}") from None


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """Local wall time → UTC; fold=0 maps a DST-gap time forward by the gap and a repeated time
    to its first occurrence (RFC 5545 behaviour)."""
    return datetime.combine(day, at, tzinfo=tz).replace(fold=0).astimezone(UTC)


SKIP_AFTER_END = "after_end"  # the reason recorded on a step due after the scenario's ``end``
# why a preview's step is due later than it asks: a send window, a closed day, or the step before it
MOVED_BY_WINDOW, MOVED_BY_HOLIDAY, MOVED_BY_ORDER = "send_window", "holiday", "previous_step"
HolidayCheck = Callable[[date], bool]
_ALL_DAY: tuple[SendWindowDef, ...] = (SendWindowDef.model_validate({"from": "00:00", "to": "00:00"}),)
_SEARCH_DAYS = 40  # openings are looked for this far ahead (a week of windows plus long holiday runs)


@lru_cache(maxsize=4096)
def japanese_holiday(day: date) -> bool:
    """Whether ``day`` is a Japanese national or substitute holiday (``jpholiday``; ~10 µs a call,
    so cached: the scheduler asks about the same few days for every friend)."""
    return bool(jpholiday.is_holiday(day))


def holiday_check(scn: ScenarioDef) -> HolidayCheck | None:
    """The scenario's closed days (``skip_holidays``: its calendar plus ``holidays``); None when none."""
    if not scn.skip_holidays:
        return None
    extra = frozenset(scn.holidays)
    return lambda day: day in extra or japanese_holiday(day)


def apply_send_window(due: datetime, window: SendWindowDef | Sequence[SendWindowDef] | None, tz: ZoneInfo, *,
                      is_holiday: HolidayCheck | None = None) -> datetime:
    """``due`` if it falls inside one of the windows, else the earliest next opening among them.

    A window whose ``to`` is earlier than ``from`` runs past midnight (its day is the opening day);
    ``from`` == ``to`` means the whole day. With ``is_holiday``, a window does not open on a
    holiday (no windows and holidays: every other day is open all day).
    """
    due = _utc(due)
    windows = (window,) if isinstance(window, SendWindowDef) else tuple(window or ())
    if not windows:
        if is_holiday is None:
            return due
        windows = _ALL_DAY
    local_day = due.astimezone(tz).date()
    best: datetime | None = None
    for offset in range(-1, _SEARCH_DAYS):  # -1: an overnight window opened yesterday may still be open
        day = local_day + timedelta(days=offset)
        if best is not None and local_to_utc(day, time(0, 0), tz) > best:
            break  # every later window opens after the best opening found
        if is_holiday is not None and is_holiday(day):
            continue
        for one in windows:
            if WEEKDAYS[day.weekday()] not in one.days or (offset < 0 and one.to > one.from_):
                continue  # only a window running past midnight can still be open from yesterday
            opens = local_to_utc(day, one.from_, tz)
            closes_day = day + timedelta(days=1) if one.to <= one.from_ else day
            if opens <= due < local_to_utc(closes_day, one.to, tz):
                return due
            if due < opens and (best is None or opens < best):
                best = opens
    return best if best is not None else due  # no opening within the search: leave the time as it is


def after_end(scn: ScenarioDef, due: datetime) -> bool:
    """Whether a step due at ``due`` falls after the scenario's ``end`` (it is then skipped, not sent)."""
    end = scn.end_at
    return end is not None and _utc(due) > end


def next_yearly(month: int, day: int, tz: ZoneInfo, now: datetime) -> datetime:
    """The next local midnight of a yearly date (a birthday), never on a day before today's local date.

    29 February falls on the 28th in years without it.
    """
    today = _utc(now).astimezone(tz).date()
    for year in (today.year, today.year + 1):
        occurrence = _yearly_date(year, month, day)
        if occurrence >= today:
            return local_to_utc(occurrence, time(0, 0), tz)
    raise AssertionError("unreachable: next year's occurrence is after today")


def following_yearly(month: int, day: int, tz: ZoneInfo, previous: datetime) -> datetime:
    """The occurrence after the one that started at ``previous`` (the next year's cycle)."""
    year = _utc(previous).astimezone(tz).date().year + 1
    return local_to_utc(_yearly_date(year, month, day), time(0, 0), tz)


def _yearly_date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        if (month, day) != (2, 29):
            raise
        return date(year, 2, 28)


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
    return apply_send_window(due, scn.windows, scn.tz, is_holiday=holiday_check(scn))


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


def steps_due_by(scn: ScenarioDef, step_id: str, start_at: datetime, due: datetime, now: datetime) -> int:
    """How many steps, from ``step_id`` (due at ``due``) on, go out by ``now`` if each is sent at once:
    what a friend at that position costs the quota right away (steps after ``end`` cost nothing)."""
    if step_id not in {step.id for step in scn.steps}:
        return 0  # removed in this version: the engine stops such an enrollment
    count, current_id, current_due = 0, step_id, _utc(due)
    for _ in range(len(scn.steps)):
        if current_due > now or after_end(scn, current_due):
            break
        count += 1
        try:
            following = next_step(scn, current_id, start_at, now)
        except KeyError:
            break
        if following is None:
            break
        current_id, current_due = following
    return count


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
    skipped: str | None = None  # why the engine will not send it (``after_end``)
    moved_by: str | None = None  # with ``moved_from_utc``: ``send_window``, ``holiday`` or ``previous_step``

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (ISO 8601 strings)."""
        out: dict[str, Any] = {"step_id": self.step_id, "due_utc": self.due_utc.isoformat(),
                               "due_local": self.due_local.isoformat(), "messages_count": self.messages_count,
                               "messages": self.messages}
        if self.moved_from_utc is not None:  # only steps the send window moved carry their original time
            out["moved_from_utc"] = self.moved_from_utc.isoformat()
            out["moved_by"] = self.moved_by
        if self.skipped is not None:
            out["skipped"] = self.skipped
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
        moved = asked if asked != due else None  # a send window or a holiday moved it
        rendered = render_messages(step.messages, display_name=display_name, attributes=attributes or {})
        entries.append(TimelineEntry(step.id, due, due.astimezone(scn.tz), len(step.messages), rendered, moved,
                                     SKIP_AFTER_END if after_end(scn, due) else None,
                                     _moved_by(scn, asked, previous, due) if moved else None))
        previous = due
    return entries


def _moved_by(scn: ScenarioDef, asked: datetime, previous: datetime | None, due: datetime) -> str:
    """Why a step is due at ``due`` rather than ``asked`` (the operator fixes each cause differently)."""
    kept = max(asked, _utc(previous)) if previous is not None else asked
    if kept == due:
        return MOVED_BY_ORDER
    if apply_send_window(kept, scn.windows, scn.tz) == due:
        return MOVED_BY_WINDOW
    return MOVED_BY_HOLIDAY
