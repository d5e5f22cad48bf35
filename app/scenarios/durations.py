"""Compact durations (``90s``, ``15m``, ``2h``, ``3d``, ``1d12h``) as used in scenario files."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
EXPECTED = "expected a duration like 90s, 15m, 2h, 3d or 1d12h (units d, h, m, s in that order)"


def parse_duration(text: str) -> timedelta:
    """Parse ``1d12h``-style text; raise ValueError saying what was expected."""
    if not isinstance(text, str):
        raise ValueError(f"{EXPECTED}, got {text!r}")
    s = text.strip().lower()
    m = _DURATION.fullmatch(s)
    if not s or m is None or not any(m.groups()):
        raise ValueError(f"{EXPECTED}, got {text!r}")
    seconds = sum(int(v) * _UNITS[u] for v, u in zip(m.groups(), "dhms", strict=True) if v)
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Inverse of :func:`parse_duration` (whole seconds), so stored definitions round-trip."""
    total = int(value.total_seconds())
    if total == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        n, total = divmod(total, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)
