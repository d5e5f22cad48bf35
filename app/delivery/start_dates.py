"""A friend's start date for a scenario (``start.from``) and the ``start.window`` check — pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from app.scenarios.schema import ScenarioDef
from app.scenarios.timeline import local_to_utc, next_yearly

BIRTHDAY_ATTRIBUTE = "birthday"


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _as_instant(value: Any, scn: ScenarioDef) -> datetime | None:
    """An attribute holding a date (local midnight in the scenario's zone) or an ISO datetime."""
    if isinstance(value, str) and len(value.strip()) > 10:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=scn.tz)
        return parsed.astimezone(UTC)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=scn.tz)).astimezone(UTC)
    day = _as_date(value)
    return local_to_utc(day, time(0, 0), scn.tz) if day else None


def birthday_parts(value: Any) -> tuple[int, int] | None:
    """(month, day) of a birthday attribute: ``YYYY-MM-DD``, ``MM-DD`` or a date; None otherwise."""
    text = value.isoformat() if isinstance(value, date) else value
    if not isinstance(text, str):
        return None
    parts = text.strip()[:10].split("-")
    try:
        month, day = (int(parts[1]), int(parts[2])) if len(parts) == 3 else (int(parts[0]), int(parts[1]))
        date(2000, month, day)  # a leap year: 29 February is a valid birthday
    except (ValueError, IndexError):
        return None
    return month, day


def next_birthday(value: Any, scn: ScenarioDef, reference: datetime) -> datetime | None:
    """The friend's next birthday at local midnight (today's counts; never a day already past)."""
    parts = birthday_parts(value)
    return next_yearly(parts[0], parts[1], scn.tz, reference) if parts else None


def resolve_start(
    scn: ScenarioDef,
    *,
    followed_at: datetime | None,
    last_message_at: datetime | None,
    attributes: Mapping[str, Any],
    trigger_time: datetime,
) -> datetime | None:
    """The instant the scenario's steps count from for this friend; None when the friend has no such date."""
    source = scn.start.from_
    if source == "trigger_time":
        return trigger_time
    if source == "followed_at":
        return followed_at
    if source == "last_message_at":
        return last_message_at
    if source == "birthday":
        return next_birthday(attributes.get(BIRTHDAY_ATTRIBUTE), scn, trigger_time)
    name = scn.start.from_attribute
    return _as_instant(attributes.get(name), scn) if name else None


def in_window(scn: ScenarioDef, start: datetime) -> bool:
    """Whether the start date's local calendar date lies in ``start.window`` (inclusive)."""
    window = scn.start.window
    if window is None:
        return True
    local_day = start.astimezone(scn.tz).date()
    if window.from_ is not None and local_day < window.from_:
        return False
    return window.until is None or local_day <= window.until


def field_drives_start(scn: ScenarioDef, field: str) -> bool:
    """Whether a change of ``field`` (a ``start.from`` value) moves this scenario's start date.

    ``attribute:birthday`` also drives ``from: birthday`` (the birthday lives in that attribute).
    """
    source = scn.start.from_
    return source == field or (source == "birthday" and field == f"attribute:{BIRTHDAY_ATTRIBUTE}")
