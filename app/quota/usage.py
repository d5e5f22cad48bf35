"""Quota arithmetic over plain numbers, and which time zone / plan this process uses."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings, bound_settings
from app.quota.plans import plan_limit

ALERT_THRESHOLDS = (80, 100)  # percent of the monthly limit (SPEC §4)


@dataclass(frozen=True)
class QuotaConfig:
    """The quota time zone and the configured plan limit (None: unknown until LINE answers)."""

    timezone: str
    plan_limit: int | None


def quota_config(settings: Settings | None = None) -> QuotaConfig:
    """Settings of this process (bound by ``create_app`` or a worker's ``boot``), else defaults."""
    settings = settings or bound_settings() or Settings()
    return QuotaConfig(settings.quota_timezone, plan_limit(settings.quota_plan))


def used_of(reserved: int, external: int, limit: int | None, exhausted: bool) -> int:
    """Messages counted this month; LINE saying "monthly limit" means the whole limit is used."""
    used = reserved + external
    if exhausted and limit is not None:
        used = max(used, limit)
    return used


def remaining_of(used: int, limit: int | None, exhausted: bool) -> int | None:
    """Messages we may still reserve; None = unlimited."""
    if exhausted:
        return 0
    if limit is None:
        return None
    return max(0, limit - used)


def percent_of(used: int, limit: int | None) -> float | None:
    """Share of the limit used, in percent (None when unlimited; 100 for a zero limit)."""
    if limit is None:
        return None
    if limit <= 0:
        return 100.0
    return round(100.0 * used / limit, 2)


def reached_thresholds(used: int, limit: int | None) -> list[int]:
    """The alert thresholds (80, 100) that ``used`` has reached."""
    if limit is None:
        return []
    return [t for t in ALERT_THRESHOLDS if used * 100 >= t * limit]
