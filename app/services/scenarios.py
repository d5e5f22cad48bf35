"""The one scenario service behind the CLI, the admin API and the dashboard (SPEC §2).

Upload and versioning live in ``scenario_upload`` / ``scenario_versions``, state changes in
``scenario_lifecycle``; this module is the entry point callers import.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.audience import audience_size, enroll_audience
from app.delivery.enrollment import enroll_manual
from app.friends.evaluate import FriendFacts, evaluate, segment_test
from app.friends.segments import segment_filters
from app.models.base import utcnow
from app.models.delivery import Enrollment
from app.models.scenarios import Scenario, ScenarioVersion
from app.scenarios.errors import ScenarioInvalid
from app.scenarios.jsonschema import scenario_json_schema
from app.scenarios.schema import ScenarioDef
from app.scenarios.timeline import TimelineEntry, timeline
from app.services.definitions import definition_for
from app.services.scenario_lifecycle import Transition, check_references, delete, get_scenario, transition
from app.services.scenario_upload import ScenarioUpload, UploadResult, duplicate, upload, validate, validate_against
from app.services.scenario_versions import StepImpact

__all__ = [
    "ScenarioInvalid", "ScenarioUpload", "StepImpact", "Transition", "UploadResult", "audience_size",
    "check_references", "current_definition", "delete", "duplicate", "enroll_audience", "enroll_manual",
    "enrollment_counts", "get", "list_scenarios", "pause", "preview", "preview_report", "publish", "resume",
    "scenario_json_schema", "upload", "validate", "validate_against", "versions",
]


def list_scenarios(session: Session, channel: str | None = None) -> list[Scenario]:
    """Every scenario (optionally of one channel), highest priority first."""
    query = sa.select(Scenario).order_by(Scenario.priority.desc(), Scenario.id)
    if channel is not None:
        query = query.where(Scenario.channel == channel)
    return list(session.scalars(query))


def get(session: Session, scenario_id: str) -> Scenario:
    """One scenario; NotFound otherwise."""
    return get_scenario(session, scenario_id)


def current_definition(session: Session, scenario_id: str) -> ScenarioDef:
    """The parsed definition of the scenario's current version."""
    scenario = get_scenario(session, scenario_id)
    return definition_for(session, scenario.id, scenario.version)


def versions(session: Session, scenario_id: str) -> list[ScenarioVersion]:
    """Every stored version of a scenario, newest first."""
    get_scenario(session, scenario_id)
    return list(session.scalars(sa.select(ScenarioVersion).where(ScenarioVersion.scenario_id == scenario_id)
                                .order_by(ScenarioVersion.version.desc())))


def enrollment_counts(session: Session) -> dict[str, dict[str, int]]:
    """``{scenario_id: {status: count}}`` over every enrollment (one grouped query)."""
    counts: dict[str, dict[str, int]] = {}
    rows = session.execute(sa.select(Enrollment.scenario_id, Enrollment.status, sa.func.count())
                           .group_by(Enrollment.scenario_id, Enrollment.status))
    for scenario_id, status, count in rows:
        counts.setdefault(scenario_id, {})[status] = int(count)
    return counts


def publish(session: Session, scenario_id: str, now: datetime) -> Transition:
    """draft | paused | error → live (an ``error`` scenario only once its references exist again)."""
    return transition(session, scenario_id, "publish", now)


def pause(session: Session, scenario_id: str, now: datetime) -> Transition:
    """live → paused: nothing more is sent until it is resumed."""
    return transition(session, scenario_id, "pause", now)


def resume(session: Session, scenario_id: str, now: datetime) -> Transition:
    """paused → live."""
    return transition(session, scenario_id, "resume", now)


def preview(session: Session, scenario_id: str, start: datetime, attributes: dict[str, Any] | None = None, *,
            display_name: str | None = None) -> list[TimelineEntry]:
    """The exact delivery timeline for a cycle starting at ``start`` (same code as the engine); sends nothing."""
    scn = current_definition(session, scenario_id)
    return timeline(scn, start, attributes=attributes or {}, display_name=display_name)


def preview_report(session: Session, scenario_id: str, start: datetime,
                   attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`preview` as JSON, with the scenario's version and zone and whether the attributes pass
    the filter (segments resolved; tags are not known in a preview: tag conditions count as absent)."""
    scenario = get_scenario(session, scenario_id)
    scn = definition_for(session, scenario.id, scenario.version)
    now = utcnow()
    passes = evaluate(scn.filter, FriendFacts(attributes=attributes or {}), now=now,
                      segment=segment_test(segment_filters(session), now))
    return {"scenario_id": scenario.id, "version": scenario.version, "timezone": scn.timezone,
            "start": start.isoformat(), "filter_matches": passes,
            "timeline": [entry.to_dict() for entry in preview(session, scenario_id, start, attributes)]}
