"""What the scenario use cases hand back: plain copies of rows, so an edge renders them after the
transaction without touching the database (an upload expires the session's rows mid-way)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.models.scenarios import Scenario, ScenarioVersion


@dataclass(frozen=True)
class ScenarioView:
    """A scenario's columns (the row's attribute names, so templates read either), plus its
    enrollments by status when the use case counted them."""

    id: str
    name: str
    channel: str
    status: str
    status_reason: str | None
    priority: int
    trigger: str
    version: int
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    enrollments: dict[str, int] | None = None


def scenario_view(row: Scenario, enrollments: dict[str, int] | None = None) -> ScenarioView:
    return ScenarioView(row.id, row.name, row.channel, row.status, row.status_reason, row.priority, row.trigger,
                        row.version, row.published_at, row.created_at, row.updated_at, enrollments)


@dataclass(frozen=True)
class VersionView:
    """One stored version: its normalised definition and the text it was uploaded as."""

    version: int
    created_at: datetime
    source_name: str
    source: str
    definition: dict[str, Any]


def version_view(row: ScenarioVersion) -> VersionView:
    return VersionView(row.version, row.created_at, row.source_name, row.source, row.definition)
