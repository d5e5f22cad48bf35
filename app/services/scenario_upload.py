"""Uploading scenario files: all or nothing, a new version only when the definition changed,
the document's ``status`` applied, and the impact on friends in flight reported."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import BadRequest, Conflict
from app.friends.segments import unknown_segments
from app.models.scenarios import SCENARIO_DRAFT, Scenario, ScenarioVersion
from app.scenarios.errors import Issue, ScenarioInvalid
from app.scenarios.fields import ID_PATTERN
from app.scenarios.loader import format_path, parse_scenarios
from app.scenarios.schema import EnrollAction, ScenarioDef
from app.scenarios.yamlpos import compose_only, locate
from app.services import definitions
from app.services.scenario_lifecycle import apply_status, get_scenario, settle_audience
from app.services.scenario_versions import StepImpact, impact, migrate_enrollments, step_changes

Action = Literal["created", "updated", "unchanged"]


@dataclass
class ScenarioUpload:
    """The outcome for one scenario of an upload."""

    scenario: Scenario
    action: Action
    version: int
    previous_status: str | None
    impact: list[StepImpact] = field(default_factory=list)
    needs_audience: bool = False  # just published with ``audience: all``, too many friends to enroll inline
    audience_enrolled: int = 0  # existing friends enrolled inline on publish

    @property
    def changed(self) -> bool:
        return self.action != "unchanged"


@dataclass
class UploadResult:
    scenarios: list[ScenarioUpload]

    @property
    def audience_pending(self) -> list[str]:
        """Scenarios whose existing friends must still be enrolled (``enroll_audience``, job or CLI)."""
        return [item.scenario.id for item in self.scenarios if item.needs_audience]


def validate(files: list[tuple[str, str]]) -> list[ScenarioDef]:
    """Parse and check every ``(name, text)``; raises :class:`ScenarioInvalid` listing every problem."""
    return parse_scenarios(files)


def enroll_targets(scn: ScenarioDef) -> list[tuple[list[str | int], str]]:
    """``(path, scenario id)`` of every ``enroll:`` action of the scenario's rules."""
    return [(["rules", i, "do", j, "enroll"], action.enroll)
            for i, rule in enumerate(scn.rules) for j, action in enumerate(rule.do)
            if isinstance(action, EnrollAction)]


def _check_references(session: Session, files: list[tuple[str, str]], defs: list[ScenarioDef]) -> None:
    """An ``enroll:`` must name a scenario that exists or arrives in the same upload."""
    known = {scn.id for scn in defs} | set(session.scalars(sa.select(Scenario.id)))
    issues = []
    for (name, text), scn in zip(files, defs, strict=True):
        for path, target in enroll_targets(scn):
            if target not in known:
                node = locate(compose_only(text), path, at_key=False)
                issues.append(Issue(name, node.start_mark.line + 1 if node else None,
                                    node.start_mark.column + 1 if node else None, format_path(path),
                                    f"unknown scenario {target!r}: upload it first or in the same set"))
    issues.extend(segment_issues(session, files, defs))
    if issues:
        raise ScenarioInvalid(issues)


def segment_issues(session: Session, files: list[tuple[str, str]], defs: list[ScenarioDef]) -> list[Issue]:
    """A filter or step condition naming a segment that does not exist: refused, never matching nobody."""
    issues = []
    for (name, text), scn in zip(files, defs, strict=True):
        places: list[tuple[list[str | int], Any]] = [(["filter"], scn.filter)]
        places += [(["steps", i, "if"], step.if_) for i, step in enumerate(scn.steps)]
        for path, node in places:
            for missing in unknown_segments(session, node):
                found = locate(compose_only(text), path, at_key=False)
                issues.append(Issue(name, found.start_mark.line + 1 if found else None,
                                    found.start_mark.column + 1 if found else None, format_path(path),
                                    f"unknown segment {missing!r}: define it first (PUT /admin/api/segments/"
                                    f"{missing} or segments load)"))
    return issues


def validate_against(session: Session, files: list[tuple[str, str]]) -> list[ScenarioDef]:
    """:func:`validate` plus the checks that need the database (references, segments), as upload runs them."""
    defs = validate(files)
    _check_references(session, files, defs)
    return defs


def _comparable(scn: ScenarioDef) -> dict[str, object]:
    """The definition without ``status``: a status change alone is applied, not versioned."""
    return {k: v for k, v in definitions.dump_definition(scn).items() if k != "status"}


def _store_version(session: Session, scenario_id: str, version: int, scn: ScenarioDef, name: str, text: str,
                   now: datetime) -> None:
    session.add(ScenarioVersion(scenario_id=scenario_id, version=version, definition=definitions.dump_definition(scn),
                                source=text, source_name=name, created_at=now))
    definitions.remember(scenario_id, version, scn)


def _copy_columns(scenario: Scenario, scn: ScenarioDef, now: datetime) -> None:
    scenario.name, scenario.channel, scenario.priority = scn.name, scn.channel, scn.priority
    scenario.trigger, scenario.updated_at = scn.start.trigger, now


def store_scenario(session: Session, scn: ScenarioDef, name: str, text: str, now: datetime) -> ScenarioUpload:
    """Create the scenario or add a version when its definition changed; apply the document's status."""
    scenario = session.get(Scenario, scn.id, with_for_update=True)
    if scenario is None:
        scenario = Scenario(id=scn.id, status=SCENARIO_DRAFT, version=1, created_at=now)
        _copy_columns(scenario, scn, now)
        session.add(scenario)
        session.flush()
        _store_version(session, scn.id, 1, scn, name, text, now)
        result = ScenarioUpload(scenario, "created", 1, None)
    else:
        result = ScenarioUpload(scenario, "unchanged", scenario.version, scenario.status)
        old = definitions.definition_for(session, scenario.id, scenario.version)
        if _comparable(old) != _comparable(scn):
            version = scenario.version + 1
            changes = step_changes(old, scn)
            result.action, result.version = "updated", version
            result.impact = impact(session, scenario.id, changes)
            _store_version(session, scn.id, version, scn, name, text, now)
            migrate_enrollments(session, scenario.id, old, scn, version, changes, now)
            scenario.version = version
        _copy_columns(scenario, scn, now)
    result.needs_audience = apply_status(scenario, scn, now)
    return result


def upload(session: Session, files: list[tuple[str, str]], now: datetime) -> UploadResult:
    """Store every scenario of ``files`` or none (validation of all files comes first).

    The caller owns the transaction: an error after validation must roll it back.
    """
    defs = validate(files)
    _check_references(session, files, defs)
    results = [store_scenario(session, scn, name, text, now) for (name, text), scn in zip(files, defs, strict=True)]
    session.flush()
    for item in results:  # after every scenario is stored: an audience enrollment reads the final state
        if item.needs_audience:
            enrolled = settle_audience(session, item.scenario.id, now)
            item.needs_audience, item.audience_enrolled = enrolled is None, enrolled or 0
    return UploadResult(results)


def duplicate(session: Session, scenario_id: str, new_id: str, now: datetime) -> Scenario:
    """A draft copy of the current version under ``new_id`` (version 1, no enrollments)."""
    if not isinstance(new_id, str) or not ID_PATTERN.fullmatch(new_id):
        raise BadRequest("invalid scenario id", [{"path": "id", "message": f"expected [a-z0-9-]+, got {new_id!r}"}])
    source = get_scenario(session, scenario_id)
    if session.get(Scenario, new_id) is not None:
        raise Conflict(f"scenario {new_id!r} already exists")
    old = definitions.definition_for(session, source.id, source.version)
    definition = {**definitions.dump_definition(old), "id": new_id, "status": SCENARIO_DRAFT,
                  "name": f"{old.name} (copy)"[:200]}
    scn = definitions.parse_definition(definition)
    text = json.dumps(definition, ensure_ascii=False, indent=2)
    return store_scenario(session, scn, f"duplicate of {scenario_id}", text, now).scenario
