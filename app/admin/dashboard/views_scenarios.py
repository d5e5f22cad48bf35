"""Scenarios: the table with pause/resume, one scenario's step stats and preview, and upload."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.admin.api_scenarios import start_audience_jobs
from app.admin.dashboard import bp, charts
from app.delivery import stats
from app.errors import SteplineError
from app.extensions import db
from app.limits import DocumentTooLarge
from app.models.base import utcnow
from app.models.scenarios import Scenario
from app.scenarios.errors import ScenarioInvalid
from app.scenarios.filters import matches
from app.services import scenarios as scenario_service
from app.services.definitions import definition_for

LIFECYCLE_ACTIONS = {
    "publish": scenario_service.publish,
    "pause": scenario_service.pause,
    "resume": scenario_service.resume,
}


def _render_list(status: int = 200, **context: Any) -> tuple[str, int]:
    with db.read() as session:
        rows = scenario_service.list_scenarios(session)
        totals = {row.scenario_id: row for row in stats.scenario_stats(session)}
    return render_template("dashboard/scenarios.html", section="scenarios", scenarios=rows, totals=totals,
                           **context), status


@bp.route("/scenarios")
def scenarios() -> tuple[str, int]:
    """Every scenario with its lifecycle state and delivery totals, plus the upload form."""
    return _render_list()


def _uploaded_files() -> list[tuple[str, str]]:
    """The form's files and pasted text as ``(name, text)`` pairs (UTF-8, BOM tolerated)."""
    files: list[tuple[str, str]] = []
    for storage in request.files.getlist("files"):
        if storage and storage.filename:
            files.append((storage.filename, storage.read().decode("utf-8-sig", errors="replace")))
    text = request.form.get("source", "")
    if text.strip():
        files.append((request.form.get("source_name", "").strip() or "pasted.yaml", text))
    return files


@bp.route("/scenarios/upload", methods=["POST"])
def upload() -> tuple[str, int]:
    """Validate and store the uploaded documents atomically; errors are shown next to the form."""
    files = _uploaded_files()
    form = {"source": request.form.get("source", ""), "source_name": request.form.get("source_name", "")}
    if not files:
        return _render_list(400, upload_errors=[], upload_message="Choose a file or paste a scenario.", form=form)
    now = utcnow()
    try:
        with db.transaction() as session:
            result = scenario_service.upload(session, files, now)
    except ScenarioInvalid as exc:
        return _render_list(422, upload_errors=exc.errors, form=form)
    except DocumentTooLarge as exc:
        return _render_list(413, upload_errors=[], upload_message=str(exc), form=form)
    except SteplineError as exc:
        return _render_list(400, upload_errors=getattr(exc, "details", []), upload_message=str(exc), form=form)
    start_audience_jobs(result.audience_pending)
    return _render_list(200, upload_result=result, form={})


@bp.route("/scenarios/<scenario_id>/<action>", methods=["POST"])
def lifecycle(scenario_id: str, action: str) -> Response:
    """Publish, pause or resume, then back to where the button was."""
    change = LIFECYCLE_ACTIONS.get(action)
    if change is None:
        abort(404)
    now = utcnow()
    try:
        with db.transaction() as session:
            done = change(session, scenario_id, now)
    except SteplineError as exc:
        flash(f"{scenario_id}: {exc}", "error")
    else:
        start_audience_jobs([scenario_id] if done.needs_audience else [])
        flash(f"{scenario_id}: {action} done — now {done.scenario.status}.{_audience_note(done)}", "success")
    back = request.form.get("next", "")
    if not back.startswith("/admin/"):
        back = url_for("dashboard.scenarios")
    return redirect(back)


def _audience_note(done: Any) -> str:
    """What an ``audience: all`` publish did with the existing friends."""
    if done.needs_audience:
        return " Existing friends are being enrolled in the background."
    if done.audience_enrolled:
        return f" {done.audience_enrolled} existing friend(s) enrolled."
    return ""


def parse_start(value: str, timezone: str) -> datetime:
    """A ``datetime-local`` value (scenario local time) or ISO 8601 with an offset → aware UTC."""
    start = datetime.fromisoformat(value.strip())
    if start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(timezone))
    return start.astimezone(ZoneInfo("UTC"))


def parse_attributes(text: str) -> dict[str, Any]:
    """``key=value`` lines; values read as JSON when they are JSON (``3``, ``true``), else text."""
    attributes: dict[str, Any] = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if not sep or not key.strip():
            continue
        try:
            attributes[key.strip()] = json.loads(raw.strip())
        except ValueError:
            attributes[key.strip()] = raw.strip()
    return attributes


@bp.route("/scenarios/<scenario_id>")
def scenario(scenario_id: str) -> str:
    """One scenario: per-step stats (with block rate) and a preview of its timeline."""
    with db.read() as session:
        row = session.get(Scenario, scenario_id)
        if row is None:
            abort(404, description=f"scenario {scenario_id!r} does not exist")
        definition = definition_for(session, scenario_id, row.version)
        numbers = stats.stats_for(session, scenario_id)
        start_text = request.args.get("start", "")
        attributes_text = request.args.get("attributes", "")
        timeline, start, filter_ok, preview_error = None, None, True, None
        if start_text:
            try:
                start = parse_start(start_text, definition.timezone)
                attributes = parse_attributes(attributes_text)
                timeline = scenario_service.preview(session, scenario_id, start, attributes)
                filter_ok = matches(definition.filter, attributes, set())  # tags are unknown in a preview
            except ValueError as exc:
                preview_error = f"start: {exc}"
            except SteplineError as exc:
                preview_error = str(exc)
    return render_template(
        "dashboard/scenario.html", section="scenarios", scenario=row, definition=definition,
        steps=numbers.steps, totals=numbers.totals, goals=numbers.goals, rate_bar=charts.rate_bar,
        timeline=timeline, start=start, filter_ok=filter_ok, preview_error=preview_error,
        start_text=start_text, attributes_text=attributes_text,
    )
