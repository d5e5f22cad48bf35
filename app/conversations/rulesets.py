"""Live rule sets of a channel, their definitions cached per (id, version) like scenarios'."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models.conversations import RULESET_LIVE, RuleSet, RuleSetVersion
from app.scenarios.ruleset_schema import RuleSetDef
from app.session_memo import memo

_CACHE: dict[tuple[str, int], RuleSetDef] = {}


def parse_definition(definition: dict[str, Any]) -> RuleSetDef:
    return RuleSetDef.model_validate(definition)


def definition_for(session: Session, ruleset_id: str, version: int) -> RuleSetDef:
    """One version's definition (cached: versions never change)."""
    cached = _CACHE.get((ruleset_id, version))
    if cached is not None:
        return cached
    definition = session.scalar(sa.select(RuleSetVersion.definition).where(
        RuleSetVersion.ruleset_id == ruleset_id, RuleSetVersion.version == version))
    if definition is None:
        raise KeyError(f"rule set {ruleset_id!r} has no version {version}")
    parsed = _CACHE[(ruleset_id, version)] = parse_definition(definition)
    return parsed


def forget(ruleset_id: str) -> None:
    """Drop a rule set's cached versions (an upload or a delete may reuse a version number)."""
    for key in [k for k in _CACHE if k[0] == ruleset_id]:
        _CACHE.pop(key, None)


def clear_cache() -> None:
    """Forget cached definitions (tests that empty the tables)."""
    _CACHE.clear()


def live_rulesets(session: Session, channel: str) -> list[tuple[str, RuleSetDef]]:
    """The channel's live rule sets, highest priority first (ties: by id). Read once per
    transaction: a worker's transaction matches a batch of friends' messages against the same ones."""
    return memo(session, ("live_rulesets", channel), lambda: _live_rulesets(session, channel))


def _live_rulesets(session: Session, channel: str) -> list[tuple[str, RuleSetDef]]:
    rows = session.execute(sa.select(RuleSet.id, RuleSet.version).where(
        RuleSet.channel == channel, RuleSet.status == RULESET_LIVE).order_by(RuleSet.priority.desc(), RuleSet.id)
    ).all()
    return [(row.id, definition_for(session, row.id, row.version)) for row in rows]
