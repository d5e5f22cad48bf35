"""Scenario version rows for link tokens: a token names a version by its row id."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models.scenarios import ScenarioVersion

_BY_ROW: dict[int, tuple[str, int]] = {}
_LIMIT = 65536


def version_row(session: Session, scenario_id: str, version: int) -> int:
    """The ``scenario_versions.id`` of one version (asked once per send batch); NotFound if none."""
    row = session.scalar(sa.select(ScenarioVersion.id).where(ScenarioVersion.scenario_id == scenario_id,
                                                             ScenarioVersion.version == version))
    if row is None:
        raise NotFound(f"scenario {scenario_id!r} has no version {version}")
    _BY_ROW[row] = (scenario_id, version)
    return int(row)


def by_row(session: Session, row: int) -> tuple[str, int] | None:
    """(scenario id, version) of a version row, cached per process: a row never changes, and a row
    id reused after a delete carries another scope, which the token's signature then refuses."""
    found = _BY_ROW.get(row)
    if found is None:
        stored = session.execute(sa.select(ScenarioVersion.scenario_id, ScenarioVersion.version)
                                 .where(ScenarioVersion.id == row)).first()
        if stored is None:
            return None
        if len(_BY_ROW) >= _LIMIT:
            _BY_ROW.clear()
        found = _BY_ROW[row] = (stored.scenario_id, stored.version)
    return found


def cached(row: int) -> tuple[str, int] | None:
    """(scenario id, version) of a version row if this process has it cached; never reads."""
    return _BY_ROW.get(row)


def is_cached(row: int) -> bool:
    return row in _BY_ROW


def forget(row: int) -> None:
    _BY_ROW.pop(row, None)


def scope(scenario_id: str, version: int) -> str:
    return f"{scenario_id}:{version}"
