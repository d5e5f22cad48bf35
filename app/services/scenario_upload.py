"""Uploading scenario files: every check first (:func:`check`, shared with ``validate`` and the dry
runs), all or nothing, a new version only when the definition changed, the document's ``status``
applied after its impact was measured (and guarded against the quota left), and the impact on
friends in flight reported."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import BadRequest, Conflict
from app.models.contacts import FriendField, Segment
from app.models.scenarios import SCENARIO_DRAFT, SCENARIO_LIVE, Scenario, ScenarioVersion
from app.scenarios import store as definitions
from app.scenarios.checks import CheckResult, FieldDefined, Known, SegmentExists, cross_check
from app.scenarios.errors import Issue, ScenarioInvalid
from app.scenarios.fields import ID_PATTERN
from app.scenarios.loader import parse_scenarios
from app.scenarios.schema import ScenarioDef
from app.services.scenario_impact import Impact, going_live, guard, nothing
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
    status_change: dict[str, str] | None = None  # {"from", "to"} when the document's status moved the scenario
    measured: Impact | None = None  # measured before acting (going live): the numbers a dry run gives

    @property
    def changed(self) -> bool:
        return self.action != "unchanged"


@dataclass
class UploadResult:
    scenarios: list[ScenarioUpload]
    warnings: list[Issue] = field(default_factory=list)

    @property
    def audience_pending(self) -> list[str]:
        """Scenarios whose existing friends must still be enrolled (``enroll_audience``, job or CLI)."""
        return [item.scenario.id for item in self.scenarios if item.needs_audience]


# Hooks for lookups other areas own: each is called with the session and returns a predicate.
# Segments (SPEC §8) and friend fields plug in here; unset = segments unchecked, no field table.
def _segment_lookup(session: Session) -> SegmentExists:
    """Segments that exist now: a scenario naming another is refused, never matching nobody."""
    return set(session.scalars(sa.select(Segment.id))).__contains__


def _field_lookup(session: Session) -> FieldDefined:
    """Attributes a field defines (archived ones too: their values are kept)."""
    return set(session.scalars(sa.select(FriendField.name))).__contains__


SEGMENT_LOOKUP: Callable[[Session], SegmentExists] | None = _segment_lookup
FIELD_LOOKUP: Callable[[Session], FieldDefined] | None = _field_lookup


@dataclass
class Checked:
    """Parsed documents that passed every check, with the warnings (not errors) found."""

    defs: list[ScenarioDef]
    warnings: list[Issue]


def validate(files: list[tuple[str, str]]) -> list[ScenarioDef]:
    """Parse and check each document on its own (no database); :func:`check` adds what needs one."""
    return parse_scenarios(files)


def _known(session: Session | None, channels: Collection[str] | None, nearby: Collection[str] = ()) -> Known:
    if session is None:  # no database to ask (``validate`` before the first migration)
        return Known(scenarios=(), channels=set(channels) if channels else None, nearby=nearby)
    return Known(scenarios=set(session.scalars(sa.select(Scenario.id))),
                 channels=set(channels) if channels else None, nearby=nearby,
                 segment_exists=SEGMENT_LOOKUP(session) if SEGMENT_LOOKUP else None,
                 field_defined=FIELD_LOOKUP(session) if FIELD_LOOKUP else None)


def check_stored(session: Session, scenario_id: str, *, channels: Collection[str] | None = None) -> CheckResult:
    """:func:`check`'s cross checks on a stored scenario's current version (for preview): what
    changed around it since its upload (a deleted ``enroll:`` target, a channel removed)."""
    scenario = get_scenario(session, scenario_id)
    version = session.scalars(sa.select(ScenarioVersion).where(
        ScenarioVersion.scenario_id == scenario.id, ScenarioVersion.version == scenario.version)).first()
    scn = definitions.definition_for(session, scenario.id, scenario.version)
    text = version.source if version is not None else json.dumps(definitions.dump_definition(scn))
    return cross_check([(version.source_name if version else scenario_id, text)], [scn], _known(session, channels))


def check(session: Session | None, files: list[tuple[str, str]], *, channels: Collection[str] | None = None,
          nearby: Collection[str] = ()) -> Checked:
    """The one check behind ``scenarios validate``, upload and the dry runs: each document, then
    references to other scenarios, channels (when ``channels`` is given), segments; raises
    :class:`ScenarioInvalid` with every error, returns the warnings. ``nearby`` ids (scenario
    files beside the ones checked) are only offered as "did you mean". Without a ``session`` only
    the documents themselves count as existing scenarios (segments and fields are not checked)."""
    defs = parse_scenarios(files)
    result = cross_check(files, defs, _known(session, channels, nearby))
    if result.errors:
        raise ScenarioInvalid(result.errors)
    return Checked(defs, result.warnings)


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


def _status_change(before: str | None, scn: ScenarioDef) -> dict[str, str] | None:
    return {"from": before, "to": scn.status} if before is not None and before != scn.status else None


def _upload_impact(session: Session, scenario: Scenario, scn: ScenarioDef, now: datetime) -> Impact:
    """What applying the document's status does: going live is measured, anything else sends nothing."""
    if scn.status == SCENARIO_LIVE and scenario.status != SCENARIO_LIVE:
        return going_live(session, scenario, scn, now)
    return nothing(session, scn.channel, now)


def store_scenario(session: Session, scn: ScenarioDef, name: str, text: str, now: datetime, *,
                   force: bool = True) -> ScenarioUpload:
    """Create the scenario or add a version when its definition changed; apply the document's status.

    Going live is measured first and refused (:class:`OverQuota`) beyond the quota left unless ``force``.
    """
    scenario = session.get(Scenario, scn.id, with_for_update=True)
    before = scenario.status if scenario is not None else None
    measured = _upload_impact(session, scenario if scenario is not None else _unsaved(scn), scn, now)
    guard(scn.id, "upload", measured, force=force)
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
    result.status_change, result.measured = _status_change(before, scn), measured
    return result


def _unsaved(scn: ScenarioDef) -> Scenario:
    """The row a new scenario would get (not added to the session): what its dry run measures."""
    return Scenario(id=scn.id, name=scn.name, channel=scn.channel, priority=scn.priority, trigger=scn.start.trigger,
                    status=SCENARIO_DRAFT, version=0, published_at=None)


@dataclass
class UploadPlan:
    """A dry run of one uploaded document: what storing it would do, nothing changed."""

    scenario_id: str
    action: Action
    version: int
    status_change: dict[str, str] | None
    impact: Impact

    def to_dict(self) -> dict[str, Any]:
        return {"scenario_id": self.scenario_id, "action": self.action, "version": self.version,
                "status_change": self.status_change, **self.impact.to_dict()}


def upload_impact(session: Session, files: list[tuple[str, str]], now: datetime, *,
                  channels: Collection[str] | None = None) -> tuple[list[UploadPlan], list[Issue]]:
    """``?dry_run=1``: the same checks and impact code as :func:`upload`, writing nothing."""
    checked = check(session, files, channels=channels)
    plans = []
    for scn in checked.defs:
        scenario = session.get(Scenario, scn.id)
        if scenario is None:
            plans.append(UploadPlan(scn.id, "created", 1, None, _upload_impact(session, _unsaved(scn), scn, now)))
            continue
        old = definitions.definition_for(session, scenario.id, scenario.version)
        changed = _comparable(old) != _comparable(scn)
        plans.append(UploadPlan(scn.id, "updated" if changed else "unchanged",
                                scenario.version + 1 if changed else scenario.version,
                                _status_change(scenario.status, scn), _upload_impact(session, scenario, scn, now)))
    return plans, checked.warnings


def upload(session: Session, files: list[tuple[str, str]], now: datetime, *, force: bool = False,
           channels: Collection[str] | None = None) -> UploadResult:
    """Store every scenario of ``files`` or none (every check of all files comes first).

    Documents that take their scenarios live are refused (:class:`OverQuota`, nothing stored) when
    their pushes due at once, together per channel, exceed the quota left, unless ``force``. The
    caller owns the transaction: an error after validation must roll it back.
    """
    checked = check(session, files, channels=channels)
    defs = checked.defs
    results = [store_scenario(session, scn, name, text, now, force=force)
               for (name, text), scn in zip(files, defs, strict=True)]
    _guard_together(results, force=force)
    session.flush()
    for item in results:  # after every scenario is stored: an audience enrollment reads the final state
        if item.needs_audience:
            enrolled = settle_audience(session, item.scenario.id, now)
            item.needs_audience, item.audience_enrolled = enrolled is None, enrolled or 0
    return UploadResult(results, checked.warnings)


def _guard_together(results: list[ScenarioUpload], *, force: bool) -> None:
    """Each document passed the quota guard alone; the documents of one channel must pass it together."""
    by_channel: dict[str, list[Impact]] = {}
    for item in results:
        if item.measured is not None:
            by_channel.setdefault(item.scenario.channel, []).append(item.measured)
    for channel, impacts in by_channel.items():
        if len(impacts) > 1:
            total = Impact(sum(i.would_enroll for i in impacts), sum(i.messages_due_now for i in impacts),
                           impacts[0].quota_left, estimated=any(i.estimated for i in impacts))
            guard("", "upload", total, force=force, subject=f"{len(impacts)} scenarios of channel {channel!r}")


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
    return store_scenario(session, scn, f"duplicate of {scenario_id}", text, now, force=True).scenario
