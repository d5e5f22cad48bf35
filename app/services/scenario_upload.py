"""Uploading scenario files: every check first (:func:`check`, shared with ``validate`` and the dry
runs), all or nothing, a new version only when the definition changed, the document's ``status``
applied after its impact was measured (and guarded against the quota left), and the impact on
friends in flight reported. Each public function owns its transaction."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from app.delivery.impact import Impact, going_live, guard, nothing
from app.delivery.lifecycle import apply_status, get_scenario, settle_audience
from app.delivery.migration import StepImpact, migrate_enrollments, step_changes, step_impact
from app.errors import BadRequest, Conflict
from app.extensions import db
from app.models.scenarios import SCENARIO_DRAFT, SCENARIO_LIVE, Scenario, ScenarioVersion
from app.scenarios import store as definitions
from app.scenarios.checks import cross_check
from app.scenarios.errors import Issue, ScenarioInvalid
from app.scenarios.fields import ID_PATTERN
from app.scenarios.known import known
from app.scenarios.loader import parse_scenarios
from app.scenarios.schema import ScenarioDef
from app.services.scenario_views import ScenarioView, scenario_view

Action = Literal["created", "updated", "unchanged"]


@dataclass
class ScenarioUpload:
    """The outcome for one scenario of an upload."""

    scenario: ScenarioView
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
        """Scenarios whose existing friends must still be enrolled (``enroll_audience``, job or CLI):
        the edge hands them on after the commit."""
        return [item.scenario.id for item in self.scenarios if item.needs_audience]


@dataclass
class Checked:
    """Parsed documents that passed every check, with the warnings (not errors) found."""

    defs: list[ScenarioDef]
    warnings: list[Issue]


def validate(files: list[tuple[str, str]]) -> list[ScenarioDef]:
    """Parse and check each document on its own (no database); :func:`check` adds what needs one."""
    return parse_scenarios(files)


def check(files: list[tuple[str, str]], *, channels: Collection[str] | None = None,
          nearby: Collection[str] = ()) -> Checked:
    """The one check behind ``scenarios validate``, upload and the dry runs: each document, then
    references to other scenarios, channels (when ``channels`` is given), segments; raises
    :class:`ScenarioInvalid` with every error, returns the warnings. ``nearby`` ids (scenario
    files beside the ones checked) are only offered as "did you mean"."""
    with db.read() as session:
        return _check(session, files, channels=channels, nearby=nearby)


def check_files(files: list[tuple[str, str]], *, channels: Collection[str] | None = None,
                nearby: Collection[str] = ()) -> Checked:
    """:func:`check` without a database: only the documents themselves count as existing scenarios
    (segments and fields are not checked)."""
    return _check(None, files, channels=channels, nearby=nearby)


def _check(session: Session | None, files: list[tuple[str, str]], *, channels: Collection[str] | None,
           nearby: Collection[str] = ()) -> Checked:
    defs = parse_scenarios(files)
    result = cross_check(files, defs, known(session, channels, nearby))
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


def _store_scenario(session: Session, scn: ScenarioDef, name: str, text: str, now: datetime, *,
                    force: bool = True) -> tuple[Scenario, ScenarioUpload]:
    """Create the scenario or add a version when its definition changed; apply the document's status.

    Going live is measured first and refused (:class:`OverQuota`) beyond the quota left unless
    ``force``. The outcome's view is the row as it stands now: a caller that changes it later
    takes the view again.
    """
    scenario = session.get(Scenario, scn.id, with_for_update=True)
    before = scenario.status if scenario is not None else None
    measured = _upload_impact(session, scenario if scenario is not None else _unsaved(scn), scn, now)
    guard(scn.id, "upload", measured, force=force)
    action: Action = "unchanged"
    changes: list[StepImpact] = []
    if scenario is None:
        scenario = Scenario(id=scn.id, status=SCENARIO_DRAFT, version=1, created_at=now)
        _copy_columns(scenario, scn, now)
        session.add(scenario)
        session.flush()
        _store_version(session, scn.id, 1, scn, name, text, now)
        action = "created"
    else:
        old = definitions.definition_for(session, scenario.id, scenario.version)
        if _comparable(old) != _comparable(scn):
            version = scenario.version + 1
            moved = step_changes(old, scn)
            action, changes = "updated", step_impact(session, scenario.id, moved)
            _store_version(session, scn.id, version, scn, name, text, now)
            migrate_enrollments(session, scenario.id, old, scn, version, moved, now)
            scenario.version = version
        _copy_columns(scenario, scn, now)
    needs_audience = apply_status(scenario, scn, now)
    return scenario, ScenarioUpload(scenario_view(scenario), action, scenario.version, before, changes,
                                    needs_audience, status_change=_status_change(before, scn), measured=measured)


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


def upload_impact(files: list[tuple[str, str]], now: datetime, *,
                  channels: Collection[str] | None = None) -> tuple[list[UploadPlan], list[Issue]]:
    """``?dry_run=1``: the same checks and impact code as :func:`upload`, in a read that writes nothing."""
    with db.read() as session:
        checked = _check(session, files, channels=channels)
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


def upload(files: list[tuple[str, str]], now: datetime, *, force: bool = False,
           channels: Collection[str] | None = None) -> UploadResult:
    """Store every scenario of ``files`` or none (every check of all files comes first), in one transaction.

    Documents that take their scenarios live are refused (:class:`OverQuota`, nothing stored) when
    their pushes due at once, together per channel, exceed the quota left, unless ``force``.
    Audiences too big to enroll inline are left in :attr:`UploadResult.audience_pending` for the
    caller to hand on once this has committed.
    """
    with db.transaction() as session:
        checked = _check(session, files, channels=channels)
        stored = [_store_scenario(session, scn, name, text, now, force=force)
                  for (name, text), scn in zip(files, checked.defs, strict=True)]
        results = [item for _, item in stored]
        _guard_together(results, force=force)
        session.flush()
        for row, item in stored:  # after every scenario is stored: an audience enrollment reads the final state
            if item.needs_audience:
                enrolled = settle_audience(session, row.id, now)
                item.needs_audience, item.audience_enrolled = enrolled is None, enrolled or 0
        for row, item in stored:  # the rows as they will commit
            item.scenario = scenario_view(row)
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


def duplicate(scenario_id: str, new_id: str, now: datetime) -> ScenarioView:
    """A draft copy of the current version under ``new_id`` (version 1, no enrollments)."""
    if not isinstance(new_id, str) or not ID_PATTERN.fullmatch(new_id):
        raise BadRequest("invalid scenario id", [{"path": "id", "message": f"expected [a-z0-9-]+, got {new_id!r}"}])
    with db.transaction() as session:
        source = get_scenario(session, scenario_id)
        if session.get(Scenario, new_id) is not None:
            raise Conflict(f"scenario {new_id!r} already exists")
        old = definitions.definition_for(session, source.id, source.version)
        definition = {**definitions.dump_definition(old), "id": new_id, "status": SCENARIO_DRAFT,
                      "name": f"{old.name} (copy)"[:200]}
        scn = definitions.parse_definition(definition)
        text = json.dumps(definition, ensure_ascii=False, indent=2)
        return _store_scenario(session, scn, f"duplicate of {scenario_id}", text, now, force=True)[1].scenario
