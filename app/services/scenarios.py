"""The one scenario service behind the CLI, the admin API and the dashboard (SPEC §2).

Upload lives in ``scenario_upload``, state changes in ``scenario_lifecycle``, what staff read in
``scenario_reads``; this module is the entry point callers import. Every use case owns its
transaction: callers pass ids and plain values and get plain values back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime

from app.delivery import audience, enrollment
from app.delivery.impact import Impact, OverQuota
from app.delivery.migration import StepImpact
from app.extensions import db
from app.scenarios.errors import ScenarioInvalid
from app.scenarios.event_names import UnknownEvent
from app.scenarios.jsonschema import scenario_json_schema
from app.services.scenario_lifecycle import Transition, TransitionPlan, delete, transition, transition_impact
from app.services.scenario_reads import (
    PreviewReport,
    ScenarioDetail,
    ScenarioPage,
    ScenarioTable,
    list_scenarios,
    preview_report,
    scenario_detail,
    scenario_page,
    scenario_table,
)
from app.services.scenario_upload import (
    Checked,
    ScenarioUpload,
    UploadPlan,
    UploadResult,
    check,
    check_files,
    duplicate,
    upload,
    upload_impact,
    validate,
)
from app.services.scenario_views import ScenarioView, VersionView

__all__ = [
    "Checked", "Impact", "OverQuota", "PreviewReport", "ScenarioDetail", "ScenarioInvalid", "ScenarioPage",
    "ScenarioTable", "ScenarioUpload", "ScenarioView", "StepImpact", "Transition", "TransitionPlan", "UnknownEvent",
    "UploadPlan", "UploadResult", "VersionView", "check", "check_files", "delete", "duplicate", "enroll_audience",
    "enroll_manual", "list_scenarios", "pause", "preview_report", "publish", "resume", "scenario_detail",
    "scenario_json_schema", "scenario_page", "scenario_table", "transition", "transition_impact", "upload",
    "upload_impact", "validate",
]

ProgressBar = Callable[[int], AbstractContextManager[audience.Progress]]  # size → the batch counter


def publish(scenario_id: str, now: datetime, *, force: bool = False) -> Transition:
    """draft | paused | error → live (an ``error`` scenario only once its references exist again)."""
    return transition(scenario_id, "publish", now, force=force)


def pause(scenario_id: str, now: datetime, *, force: bool = False) -> Transition:
    """live → paused: nothing more is sent until it is resumed."""
    return transition(scenario_id, "pause", now, force=force)


def resume(scenario_id: str, now: datetime, *, force: bool = False) -> Transition:
    """paused → live."""
    return transition(scenario_id, "resume", now, force=force)


def enroll_manual(scenario_id: str, user_ids: Iterable[str], now: datetime) -> int:
    """Enroll the named friends of the scenario's channel now (unknown ids are skipped); how many entered."""
    with db.transaction() as session:
        return enrollment.enroll_manual(session, scenario_id, user_ids, now)


def enroll_audience(scenario_id: str, now: datetime, *, progress: ProgressBar | None = None) -> int:
    """Enroll an ``audience: all`` scenario's existing friends (the audience job, or the CLI doing it
    here): batches commit as they go, so the scheduler starts on the first while the rest are read,
    and a re-run skips friends already in. ``progress(size)`` opens the caller's progress display;
    what it yields is told each batch's count."""
    with db.session() as session:
        if progress is None:
            entered = audience.enroll_audience(session, scenario_id, now, commit=True)
        else:
            with progress(audience.audience_size(session, scenario_id)) as advance:
                entered = audience.enroll_audience(session, scenario_id, now, progress=advance, commit=True)
        session.commit()
    return entered
