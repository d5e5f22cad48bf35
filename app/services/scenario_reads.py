"""What staff read about scenarios: the list, one scenario with its versions, the dashboard's
table and page, and the preview. Each use case is one read transaction."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.lifecycle import get_scenario
from app.delivery.stats import ScenarioStats, ScenarioTotals, scenario_stats, stats_for
from app.errors import SteplineError
from app.extensions import db
from app.friends.evaluate import FriendFacts, evaluate, segment_test
from app.friends.segments import segment_filters
from app.models.base import utcnow
from app.models.delivery import ENROLLMENT_ACTIVE, Enrollment
from app.models.scenarios import Scenario, ScenarioVersion
from app.scenarios.errors import Issue
from app.scenarios.known import check_stored
from app.scenarios.schema import ScenarioDef
from app.scenarios.store import definition_for
from app.scenarios.timeline import TimelineEntry, timeline
from app.services import clicks
from app.services.scenario_views import ScenarioView, VersionView, scenario_view, version_view


def _enrollment_counts(session: Session, scenario_id: str | None = None) -> dict[str, dict[str, int]]:
    """``{scenario_id: {status: count}}`` over every enrollment (of one scenario), one grouped query."""
    query = sa.select(Enrollment.scenario_id, Enrollment.status, sa.func.count())
    if scenario_id is not None:
        query = query.where(Enrollment.scenario_id == scenario_id)
    counts: dict[str, dict[str, int]] = {}
    for row_id, status, count in session.execute(query.group_by(Enrollment.scenario_id, Enrollment.status)):
        counts.setdefault(row_id, {})[status] = int(count)
    return counts


def _scenarios(session: Session, channel: str | None = None) -> list[Scenario]:
    query = sa.select(Scenario).order_by(Scenario.priority.desc(), Scenario.id)
    if channel is not None:
        query = query.where(Scenario.channel == channel)
    return list(session.scalars(query))


def list_scenarios(channel: str | None = None) -> list[ScenarioView]:
    """Every scenario (optionally of one channel), highest priority first, with its enrollments by status."""
    with db.read() as session:
        counts = _enrollment_counts(session)
        return [scenario_view(row, counts.get(row.id, {})) for row in _scenarios(session, channel)]


@dataclass(frozen=True)
class ScenarioDetail:
    """One scenario (with its enrollments by status) and every stored version, newest first."""

    scenario: ScenarioView
    versions: list[VersionView]


def scenario_detail(scenario_id: str) -> ScenarioDetail:
    """A scenario and its versions; NotFound otherwise."""
    with db.read() as session:
        row = get_scenario(session, scenario_id)
        versions = session.scalars(sa.select(ScenarioVersion).where(ScenarioVersion.scenario_id == scenario_id)
                                   .order_by(ScenarioVersion.version.desc()))
        return ScenarioDetail(scenario_view(row, _enrollment_counts(session, scenario_id).get(scenario_id, {})),
                              [version_view(v) for v in versions])


@dataclass(frozen=True)
class ScenarioTable:
    """The dashboard's table: every scenario, its delivery totals and the next send of its friends."""

    scenarios: list[ScenarioView]
    totals: dict[str, ScenarioTotals]
    next_send: dict[str, datetime]


def scenario_table() -> ScenarioTable:
    """Every scenario with its delivery totals and, per scenario, the earliest step still due."""
    with db.read() as session:
        rows = [scenario_view(row) for row in _scenarios(session)]
        totals = {row.scenario_id: row for row in scenario_stats(session)}
        return ScenarioTable(rows, totals, _next_send_by_scenario(session))


def _next_send_by_scenario(session: Session) -> dict[str, datetime]:
    """``{scenario id: the earliest next_run_at of its active enrollments}`` (its next send)."""
    rows = session.execute(
        sa.select(Enrollment.scenario_id, sa.func.min(Enrollment.next_run_at))
        .where(Enrollment.status == ENROLLMENT_ACTIVE, Enrollment.next_run_at.is_not(None))
        .group_by(Enrollment.scenario_id)
    )
    return {scenario_id: at for scenario_id, at in rows if at is not None}


@dataclass(frozen=True)
class PreviewReport:
    """A preview with what upload's checks say about the stored version today: the API answers it
    as JSON, the dashboard renders the same object (so neither recomputes what the other shows)."""

    scenario_id: str
    version: int
    timezone: str
    start: datetime
    errors: list[Issue]
    warnings: list[Issue]
    filter_matches: bool
    timeline: list[TimelineEntry]

    @property
    def skipped(self) -> list[TimelineEntry]:
        """The steps the engine would not send (due after the scenario's ``end``)."""
        return [entry for entry in self.timeline if entry.skipped]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (ISO 8601 strings)."""
        return {"scenario_id": self.scenario_id, "version": self.version, "timezone": self.timezone,
                "errors": [e.to_dict() for e in self.errors], "warnings": [w.to_dict() for w in self.warnings],
                "start": self.start.isoformat(), "filter_matches": self.filter_matches,
                "timeline": [entry.to_dict() for entry in self.timeline]}


def preview_report(scenario_id: str, start: datetime, attributes: dict[str, Any] | None = None, *,
                   display_name: str | None = None, channels: Collection[str] | None = None) -> PreviewReport:
    """The preview of the live version for a cycle starting at ``start`` (without an offset: local
    to the scenario). The filter is evaluated with segments resolved; tags are not known in a
    preview, so tag conditions count as absent."""
    with db.read() as session:
        return _preview_report(session, scenario_id, start, attributes, display_name=display_name, channels=channels)


def _preview_report(session: Session, scenario_id: str, start: datetime, attributes: dict[str, Any] | None, *,
                    display_name: str | None, channels: Collection[str] | None) -> PreviewReport:
    scenario = get_scenario(session, scenario_id)
    scn = definition_for(session, scenario.id, scenario.version)
    if start.tzinfo is None:
        start = start.replace(tzinfo=scn.tz)
    checked = check_stored(session, scenario, channels=channels)
    now = utcnow()
    passes = evaluate(scn.filter, FriendFacts(attributes=attributes or {}), now=now,
                      segment=segment_test(segment_filters(session), now))
    return PreviewReport(scenario.id, scenario.version, scn.timezone, start, list(checked.errors),
                         list(checked.warnings), passes,
                         timeline(scn, start, attributes=attributes or {}, display_name=display_name))


@dataclass(frozen=True)
class ScenarioPage:
    """The dashboard's page of one scenario: its definition, step statistics and, when asked, a
    preview, or what stopped the preview (a bad start date: ValueError; the page shows the rest)."""

    scenario: ScenarioView
    definition: ScenarioDef
    numbers: ScenarioStats
    report: PreviewReport | None = None
    preview_failed: SteplineError | ValueError | None = None


def scenario_page(scenario_id: str, *, start: datetime | None = None, attributes: dict[str, Any] | None = None,
                  display_name: str | None = None, channels: Collection[str] | None = None) -> ScenarioPage:
    """One scenario's page, with the preview for ``start`` when given; NotFound for no such scenario.
    Clicks still buffered in Redis are stored first, as for ``monitoring.scenario_stats``."""
    clicks.drain_now()
    with db.read() as session:
        row = get_scenario(session, scenario_id)
        definition = definition_for(session, scenario_id, row.version)
        numbers = stats_for(session, scenario_id)
        report, failed = None, None
        if start is not None:
            try:
                report = _preview_report(session, scenario_id, start, attributes, display_name=display_name,
                                         channels=channels)
            except (SteplineError, ValueError) as exc:
                failed = exc
        return ScenarioPage(scenario_view(row), definition, numbers, report, failed)
