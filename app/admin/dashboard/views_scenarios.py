"""Scenarios: the table with pause/resume, one scenario's step stats and preview, and upload."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from app.admin.api_scenarios import configured_channels
from app.admin.auth import audit_note, requires
from app.admin.dashboard import charts
from app.admin.dashboard.blueprint import bp
from app.admin.dashboard.sorting import parse_sort, sort_rows
from app.admin.dashboard.vocabulary import label
from app.errors import NotFound, SteplineError
from app.limits import DocumentTooLarge
from app.models.base import utcnow
from app.scenarios.errors import ScenarioInvalid
from app.scenarios.render import render_messages
from app.scenarios.schema import ScenarioDef
from app.scenarios.timeline import parse_start
from app.services import scenarios as scenario_service
from app.work import enroll_audiences

LIFECYCLE_ACTIONS = {
    "publish": scenario_service.publish,
    "pause": scenario_service.pause,
    "resume": scenario_service.resume,
}


def _total(name: str) -> Any:
    return lambda pair: getattr(pair[1], name, 0) if pair[1] is not None else 0


# every column of the scenarios table, with the key it sorts by (rows are (scenario, totals) pairs)
SORT_KEYS: dict[str, Any] = {
    "name": lambda pair: pair[0].name.casefold(),
    "status": lambda pair: pair[0].status,
    "version": lambda pair: pair[0].version,
    "enrolled": _total("enrolled"),
    "active": _total("active"),
    "completed": _total("completed"),
    "blocked": _total("blocked"),
    "sent": _total("sent"),
    "replies": _total("replies"),
    "goals": _total("goal_conversions"),
    "next_send": lambda pair: pair[2],
    "updated": lambda pair: pair[0].updated_at,
}


def _render_list(status: int = 200, **context: Any) -> tuple[str, int]:
    sort = parse_sort(request.args.get("sort"), list(SORT_KEYS), "name")
    listed = scenario_service.scenario_table()
    rows, totals, next_send = listed.scenarios, listed.totals, listed.next_send
    table = sort_rows([(s, totals.get(s.id), next_send.get(s.id) if s.status == "live" else None) for s in rows],
                      sort, SORT_KEYS)
    return render_template("dashboard/scenarios.html", section="scenarios", scenarios=rows, rows=table,
                           totals=totals, sort=sort, **context), status


@bp.route("/scenarios")
@requires("viewer")
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
    # the confirm step carries the documents it showed the impact of
    files.extend(zip(request.form.getlist("confirm_file_name"), request.form.getlist("confirm_file_text"),
                     strict=False))
    return files


def _confirmed() -> bool:
    return request.form.get("confirm") == "1"


def _confirm_upload(files: list[tuple[str, str]], status: int = 200, message: str | None = None) -> tuple[str, int]:
    """Impact first: what the upload would do (status changes first), with a button to go on."""
    plans, warnings = scenario_service.upload_impact(files, utcnow(), channels=configured_channels())
    rows = [plan.to_dict() for plan in plans]
    changes = [{"scenario_id": p.scenario_id, **p.status_change} for p in plans if p.status_change]
    return render_template("dashboard/confirm.html", section="scenarios", heading=_("Confirm upload"), rows=rows,
                           status_changes=changes, warnings=warnings, files=files, message=message,
                           over_quota=any(p.impact.over_quota for p in plans), next_url=None,
                           action_url=url_for("dashboard.upload"), confirm_label=_("Confirm and upload")), status


@bp.route("/scenarios/upload", methods=["POST"])
@requires("admin")
def upload() -> tuple[str, int]:
    """Validate and store the uploaded documents atomically; errors are shown next to the form."""
    files = _uploaded_files()
    form = {"source": request.form.get("source", ""), "source_name": request.form.get("source_name", "")}
    if not files:
        return _render_list(400, upload_errors=[], upload_message=_("Choose a file or paste a scenario."), form=form)
    now = utcnow()
    try:
        if not _confirmed():
            return _confirm_upload(files)
        result = scenario_service.upload(files, now, force=request.form.get("force") == "1",
                                         channels=configured_channels())
    except ScenarioInvalid as exc:
        return _render_list(422, upload_errors=exc.errors, form=form)
    except scenario_service.OverQuota as exc:
        return _confirm_upload(files, 409, str(exc))
    except DocumentTooLarge as exc:
        return _render_list(413, upload_errors=[], upload_message=str(exc), form=form)
    except SteplineError as exc:
        return _render_list(400, upload_errors=getattr(exc, "details", []), upload_message=str(exc), form=form)
    enroll_audiences(result.audience_pending)  # after the commit: the job reads what was stored
    return _render_list(200, upload_result=result, form={})


def _confirm_transition(scenario_id: str, action: str, message: str | None = None,
                        status: int = 200) -> tuple[str, int] | None:
    """Impact first for publish / resume; None when the action cannot start (the act flashes why)."""
    try:
        plan = scenario_service.transition_impact(scenario_id, action, utcnow())
    except SteplineError:
        return None
    row = {"scenario_id": scenario_id, "action": action, **plan.impact.to_dict()}
    return render_template("dashboard/confirm.html", section="scenarios", heading=_("Confirm %(action)s",
                                                                                    action=action),
                           rows=[row], status_changes=[{"scenario_id": scenario_id, **plan.status_change}],
                           warnings=[], files=[], message=message, over_quota=plan.impact.over_quota,
                           next_url=request.form.get("next", ""), confirm_label=_("Confirm"),
                           action_url=url_for("dashboard.lifecycle", scenario_id=scenario_id, action=action)), status


@bp.route("/scenarios/<scenario_id>/<action>", methods=["POST"])
@requires("admin")
def lifecycle(scenario_id: str, action: str) -> Response | tuple[str, int]:
    """Publish, pause or resume, then back to where the button was; publish and resume show their
    impact and ask first."""
    change = LIFECYCLE_ACTIONS.get(action)
    if change is None:
        abort(404)
    if action != "pause" and not _confirmed():
        page = _confirm_transition(scenario_id, action)
        if page is not None:
            return page
    now = utcnow()
    audit_note(scenario=scenario_id, action=action)
    try:
        done = change(scenario_id, now, force=request.form.get("force") == "1")
    except scenario_service.OverQuota as exc:
        page = _confirm_transition(scenario_id, action, str(exc), 409)
        if page is not None:
            return page
        flash(_("%(id)s: %(error)s", id=scenario_id, error=exc), "error")
    except SteplineError as exc:
        audit_note(error=str(exc))  # the redirect looks like success: say in the record that it was not
        flash(_("%(id)s: %(error)s", id=scenario_id, error=exc), "error")
    else:
        enroll_audiences([scenario_id] if done.needs_audience else [])  # after the commit
        flash(_("%(id)s: %(action)s done — now %(status)s.", id=scenario_id, action=label(action),
                status=label(done.scenario.status)) + _audience_note(done), "success")
    back = request.form.get("next", "")
    if not back.startswith("/admin/"):
        back = url_for("dashboard.scenarios")
    return redirect(back)


def _audience_note(done: Any) -> str:
    """What an ``audience: all`` publish did with the existing friends."""
    if done.needs_audience:
        return " " + _("Existing friends are being enrolled in the background.")
    if done.audience_enrolled:
        return " " + _("%(n)s existing friend(s) enrolled.", n=done.audience_enrolled)
    return ""


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
@requires("viewer")
def scenario(scenario_id: str) -> str:
    """One scenario: per-step stats (with block rate), the funnel and a preview of its timeline."""
    start_text = request.args.get("start", "")
    attributes_text = request.args.get("attributes", "")
    display_name_text = request.args.get("display_name", "").strip()
    start: datetime | None = None
    failed: SteplineError | ValueError | None = None
    if start_text:
        try:
            start = parse_start(start_text)
        except ValueError as exc:
            failed = exc
    try:
        page = scenario_service.scenario_page(scenario_id, start=start, attributes=parse_attributes(attributes_text),
                                              display_name=display_name_text or None, channels=configured_channels())
    except NotFound:
        abort(404, description=_("Scenario %(id)s does not exist.", id=scenario_id))
    preview_error = _preview_message(failed or page.preview_failed)
    definition, numbers = page.definition, page.numbers
    return render_template(
        "dashboard/scenario.html", section="scenarios", scenario=page.scenario, definition=definition,
        steps=numbers.steps, totals=numbers.totals, goals=numbers.goals, rate_bar=charts.rate_bar,
        funnel_chart=charts.funnel(
            [charts.FunnelRow(st.step_id, st.sent, st.clickers, st.replies, st.blocked_after) for st in numbers.steps],
            title=_("scenario funnel"), legend=(_("sent"), _("clicked"), _("replied"), _("blocked after"))),
        report=page.report, preview_error=preview_error,
        start_text=start_text, attributes_text=attributes_text, display_name_text=display_name_text,
        step_messages=steps_as_written(definition),
    )


def _preview_message(failed: SteplineError | ValueError | None) -> str | None:
    """Why the page shows no preview: a start that does not parse, or what the preview refused."""
    if failed is None:
        return None
    return str(failed) if isinstance(failed, SteplineError) else _("start: %(error)s", error=failed)


class _AsWritten(Mapping[str, str]):
    """Any attribute renders as its own placeholder, so the step table shows the text as written."""

    def __getitem__(self, key: str) -> str:
        return "{attribute." + key + "}"

    def get(self, key: str, default: Any = None) -> str:  # type: ignore[override]
        return self[key]

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def steps_as_written(definition: ScenarioDef) -> dict[str, list[dict[str, Any]]]:
    """Each step's LINE messages with ``{display_name}`` / ``{attribute.x}`` left visible."""
    return {step.id: render_messages(step.messages, display_name="{display_name}", attributes=_AsWritten())
            for step in definition.steps}
