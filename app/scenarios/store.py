"""Stored scenario versions → parsed :class:`ScenarioDef`, cached per process (versions never change)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models.scenarios import SCENARIO_LIVE, Scenario, ScenarioVersion
from app.scenarios.schema import ScenarioDef

_CACHE: dict[tuple[str, int], ScenarioDef] = {}
_CACHE_LIMIT = 4096  # versions are small; the limit only guards against unbounded churn


def dump_definition(scn: ScenarioDef) -> dict[str, Any]:
    """The JSON stored in ``scenario_versions.definition`` (aliases such as ``from``)."""
    return scn.model_dump(mode="json", by_alias=True)


def parse_definition(definition: dict[str, Any]) -> ScenarioDef:
    """A stored definition back into the model (it was valid when stored)."""
    return ScenarioDef.model_validate(definition)


def remember(scenario_id: str, version: int, scn: ScenarioDef) -> None:
    """Seed the cache with a definition we just stored (saves a parse on the next read)."""
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[(scenario_id, version)] = scn


def forget(scenario_id: str) -> None:
    """Drop every cached version of a deleted scenario (a re-created one restarts at version 1)."""
    for key in [key for key in _CACHE if key[0] == scenario_id]:
        del _CACHE[key]


def clear_cache() -> None:
    """Forget every cached definition (tests that empty the tables between cases)."""
    _CACHE.clear()


def cached(scenario_id: str, version: int) -> ScenarioDef | None:
    """The definition of one version if this process has it parsed already; never reads."""
    return _CACHE.get((scenario_id, version))


def definition_for(session: Session, scenario_id: str, version: int) -> ScenarioDef:
    """The definition of one version of a scenario; NotFound when that version does not exist."""
    cached = _CACHE.get((scenario_id, version))
    if cached is not None:
        return cached
    definition = session.scalar(
        sa.select(ScenarioVersion.definition).where(
            ScenarioVersion.scenario_id == scenario_id, ScenarioVersion.version == version
        )
    )
    if definition is None:
        raise NotFound(f"scenario {scenario_id!r} has no version {version}")
    scn = parse_definition(definition)
    remember(scenario_id, version, scn)
    return scn


def live_scenarios(session: Session, channel: str, trigger_prefix: str) -> list[tuple[Scenario, ScenarioDef]]:
    """Live scenarios of ``channel`` whose trigger is ``trigger_prefix`` (highest priority first).

    A prefix ending in ``:`` matches a family (``"event:"`` → every named-event scenario);
    otherwise the trigger must be equal (``"event:purchase"`` does not match ``event:purchased``).
    """
    condition = (
        Scenario.trigger.startswith(trigger_prefix, autoescape=True)
        if trigger_prefix.endswith(":")
        else Scenario.trigger == trigger_prefix
    )
    rows = session.scalars(
        sa.select(Scenario)
        .where(Scenario.channel == channel, Scenario.status == SCENARIO_LIVE, condition)
        .order_by(Scenario.priority.desc(), Scenario.id)
    ).all()
    return [(row, definition_for(session, row.id, row.version)) for row in rows]
