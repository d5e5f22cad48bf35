"""LINE plans → monthly message limits, used only when LINE's quota API gives no answer."""

from __future__ import annotations

from app.config import ConfigError

# Japan plans (LINE_FACTS.md): messages per month included in the plan
PLAN_LIMITS: dict[str, int] = {"communication": 200, "light": 5_000, "standard": 30_000}


def plan_limit(plan: str) -> int | None:
    """The limit configured by ``LINE_QUOTA_PLAN``: a plan name or a number; None when unset."""
    value = plan.strip().lower().replace(",", "").replace("_", "")
    if not value:
        return None
    if value in PLAN_LIMITS:
        return PLAN_LIMITS[value]
    if value.isdigit():
        return int(value)
    raise ConfigError(
        f"LINE_QUOTA_PLAN={plan!r} is not understood; use one of {', '.join(PLAN_LIMITS)} or a number of messages"
    )
