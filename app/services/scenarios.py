"""The one scenario service behind the CLI, the admin API and the dashboard (SPEC §2).

Upload and versioning live in ``scenario_upload`` / ``scenario_versions``, state changes in
``scenario_lifecycle``; this module is the entry point callers import.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.audience import audience_size, enroll_audience
from app.delivery.enrollment import enroll_manual
from app.errors import BadRequest
from app.friends.evaluate import FriendFacts, evaluate, segment_test
from app.friends.segments import segment_filters
from app.models.base import utcnow
from app.models.delivery import Enrollment
from app.models.scenarios import Scenario, ScenarioVersion
from app.scenarios.checks import did_you_mean
from app.scenarios.errors import Issue, ScenarioInvalid
from app.scenarios.jsonschema import scenario_json_schema
from app.scenarios.schema import EventOn, ScenarioDef
from app.scenarios.store import definition_for
from app.scenarios.timeline import TimelineEntry, timeline
from app.services.scenario_impact import Impact, OverQuota
from app.services.scenario_lifecycle import (
    Transition,
    TransitionPlan,
    check_references,
    delete,
    get_scenario,
    transition,
    transition_impact,
)
from app.services.scenario_upload import (
    Checked,
    ScenarioUpload,
    UploadPlan,
    UploadResult,
    check,
    check_stored,
    duplicate,
    upload,
    upload_impact,
    validate,
)
from app.services.scenario_versions import StepImpact

__all__ = [
    "Impact", "OverQuota", "UnknownEvent", "check_event", "known_events", "TransitionPlan", "UploadPlan",
    "transition_impact", "upload_impact", "Checked", "check", "check_stored",
    "ScenarioInvalid", "ScenarioUpload", "StepImpact", "Transition", "UploadResult", "audience_size",
    "check_references", "current_definition", "delete", "duplicate", "enroll_audience", "enroll_manual",
    "enrollment_counts", "get", "list_scenarios", "pause", "PreviewReport", "preview_report", "publish", "resume",
    "scenario_json_schema", "upload", "validate", "versions",
]


def list_scenarios(session: Session, channel: str | None = None) -> list[Scenario]:
    """Every scenario (optionally of one channel), highest priority first."""
    query = sa.select(Scenario).order_by(Scenario.priority.desc(), Scenario.id)
    if channel is not None:
        query = query.where(Scenario.channel == channel)
    return list(session.scalars(query))


def known_events(session: Session, channel: str | None = None) -> list[str]:
    """Event names some scenario (of ``channel``) starts on (``trigger: event:purchase``) or whose
    live goals an event completes (``on: {event: purchase}``)."""
    query = sa.select(Scenario.trigger).where(Scenario.trigger.startswith("event:")).distinct()
    if channel is not None:
        query = query.where(Scenario.channel == channel)
    names = {trigger[6:] for trigger in session.scalars(query)}
    live = sa.select(Scenario).where(Scenario.status == "live")
    if channel is not None:
        live = live.where(Scenario.channel == channel)
    for scenario in session.scalars(live):  # goals ``on: {event: NAME}`` listen to events too
        definition = definition_for(session, scenario.id, scenario.version)
        names.update(goal.on.event for goal in definition.goals if isinstance(goal.on, EventOn))
    return sorted(names)


def check_event(session: Session, name: str, channel: str) -> None:
    """BadRequest (422 on the API) naming the known events when no scenario of the channel starts on ``name``."""
    known = known_events(session, channel)
    if name not in known:
        hint = did_you_mean(name, known)
        raise UnknownEvent(f"unknown event {name!r}{hint}", [{
            "path": "name", "message": f"no scenario on channel {channel!r} starts on event {name!r}{hint}; "
            + (f"known events: {', '.join(known)}" if known else "no scenario starts on an event"),
            "known_events": known}])


class UnknownEvent(BadRequest):
    """A named event no scenario listens to (a typo would otherwise enroll nobody, silently)."""


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


def publish(session: Session, scenario_id: str, now: datetime, *, force: bool = False) -> Transition:
    """draft | paused | error → live (an ``error`` scenario only once its references exist again)."""
    return transition(session, scenario_id, "publish", now, force=force)


def pause(session: Session, scenario_id: str, now: datetime, *, force: bool = False) -> Transition:
    """live → paused: nothing more is sent until it is resumed."""
    return transition(session, scenario_id, "pause", now, force=force)


def resume(session: Session, scenario_id: str, now: datetime, *, force: bool = False) -> Transition:
    """paused → live."""
    return transition(session, scenario_id, "resume", now, force=force)


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


def preview_report(session: Session, scenario_id: str, start: datetime,
                   attributes: dict[str, Any] | None = None, *, display_name: str | None = None,
                   channels: Collection[str] | None = None) -> PreviewReport:
    """The preview of the live version for a cycle starting at ``start`` (without an offset: local
    to the scenario). The filter is evaluated with segments resolved; tags are not known in a
    preview, so tag conditions count as absent."""
    scenario = get_scenario(session, scenario_id)
    scn = definition_for(session, scenario.id, scenario.version)
    if start.tzinfo is None:
        start = start.replace(tzinfo=scn.tz)
    checked = check_stored(session, scenario_id, channels=channels)
    now = utcnow()
    passes = evaluate(scn.filter, FriendFacts(attributes=attributes or {}), now=now,
                      segment=segment_test(segment_filters(session), now))
    return PreviewReport(scenario.id, scenario.version, scn.timezone, start, list(checked.errors),
                         list(checked.warnings), passes,
                         timeline(scn, start, attributes=attributes or {}, display_name=display_name))
