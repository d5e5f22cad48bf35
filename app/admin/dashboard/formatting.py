"""Jinja filters for the dashboard: local times, counts, rates and ages."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import has_request_context
from flask_babel import format_date
from flask_babel import lazy_gettext as _l

from app.admin.dashboard.vocabulary import label
from app.current import current_settings


def zoned(value: datetime | None, timezone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant in ``timezone`` with the zone written after it (``2026-12-01 09:00 JST``), so no
    time on a page is ambiguous; zones without an abbreviation show their name."""
    if value is None:
        return "—"
    moment = value.astimezone(ZoneInfo(timezone))
    if "%a" in fmt and has_request_context():  # the weekday in the page's language (月, Mon)
        fmt = fmt.replace("%a", format_date(moment.date(), "EEE").replace("%", "%%"))
    label = moment.strftime("%Z")
    if not label or label[0] in "+-":
        label = timezone
    return f"{moment.strftime(fmt)} {label}"


def local_time(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC instant in the operator's zone (the quota zone, Asia/Tokyo by default), labelled;
    also an ISO 8601 text (the services' JSON-shaped answers, shared with the API, carry those)."""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    return zoned(value, current_settings().quota_timezone, fmt)


def count(value: int | float | None) -> str:
    """``12,345``; a dash for unknown."""
    return "—" if value is None else f"{int(value):,}"


def percent(value: float | None, digits: int = 1) -> str:
    """A 0..1 ratio as ``12.5%``."""
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def attribute_value(value: Any) -> str:
    """Friend attributes as written in scenarios: ``gold``, ``true``, ``3``, ``["a", "b"]``."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def age(seconds: float | None) -> str:
    """A duration in the largest sensible unit: ``4s``, ``3m 20s``, ``2h 5m``."""
    if seconds is None:
        return str(_l("never"))
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def weekday(value: date) -> str:
    """The short weekday in the page's language (``Mon`` / ``月``)."""
    return format_date(value, "EEE")


FILTERS: dict[str, Callable[..., Any]] = {
    "local": local_time, "zoned": zoned, "label": label, "count": count, "pct": percent, "age": age,
    "attr_value": attribute_value, "weekday": weekday,
}


def page_arg(name: str = "page") -> int:
    """The pager's ``?page=``: 1 when absent or not a number (a hand-edited link), 400 past
    :data:`app.limits.MAX_PAGE` (an offset that large cannot be a real page)."""
    from flask import abort, request

    from app.limits import MAX_PAGE

    value = request.args.get(name, "1")
    if not value.isascii() or not value.isdigit():
        return 1
    if len(value) > 7 or int(value) > MAX_PAGE:
        abort(400, description=f"{name} must be at most {MAX_PAGE}")
    return max(int(value), 1)
