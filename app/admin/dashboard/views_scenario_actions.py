"""Scenario actions beyond the lifecycle: show the source, test-send, duplicate and delete.

Each form posts here with CSRF, calls the same service the API and CLI use, and flashes what
happened. The POST views are guarded by the dashboard's session login only: today's ``requires``
refuses a session's POST (API rule), so their roles (test send: operator; duplicate, delete:
admin, SPEC §7) go on when the staff work's decorator accepts dashboard sessions.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from app.admin.auth import audit_note, requires
from app.admin.dashboard.blueprint import bp
from app.current import current_settings
from app.errors import NotFound, SteplineError
from app.line.channels import line_client
from app.models.base import utcnow
from app.services import scenarios as scenario_service
from app.services.test_sends import send_test


@bp.route("/scenarios/<scenario_id>/source")
@requires("viewer")
def scenario_source(scenario_id: str) -> str:
    """The current version's text exactly as uploaded (YAML or JSON), with its file name."""
    try:
        detail = scenario_service.scenario_detail(scenario_id)
    except NotFound:
        abort(404, description=_("Scenario %(id)s does not exist.", id=scenario_id))
    scenario, versions = detail.scenario, detail.versions
    current = next((v for v in versions if v.version == scenario.version), None)
    return render_template("dashboard/scenario_source.html", section="scenarios", scenario=scenario,
                           current=current, versions=versions)


def _back(scenario_id: str, anchor: str = "") -> Response:
    return redirect(url_for("dashboard.scenario", scenario_id=scenario_id) + anchor)


@bp.route("/scenarios/<scenario_id>/test-send", methods=["POST"])
@requires("operator")
def scenario_test_send(scenario_id: str) -> Response:
    """Push one step (or every step) to the listed test users now; flash the counts and reasons."""
    user_ids = [line.strip() for line in request.form.get("user_ids", "").split() if line.strip()]
    step = request.form.get("step") or None
    audit_note(scenario=scenario_id, step=step, test_users=len(user_ids))
    settings = current_settings()
    try:
        result = send_test(lambda channel: line_client(settings, channel), scenario_id, user_ids, step)
    except SteplineError as exc:
        flash(_("Test send refused: %(error)s", error=exc), "error")
        return _back(scenario_id, "#test-send")
    summary = result.summary
    flash(_("Test send: %(sent)s sent, %(failed)s failed, %(held)s held.", sent=summary.sent,
            failed=summary.failed, held=summary.held)
          + "".join(" " + _("Reason: %(reason)s", reason=reason) for reason in result.errors),
          "success" if not (summary.failed or summary.held or summary.retrying) else "error")
    return _back(scenario_id, "#test-send")


@bp.route("/scenarios/<scenario_id>/duplicate", methods=["POST"])
@requires("admin")
def scenario_duplicate(scenario_id: str) -> Response:
    """A draft copy under a new id; opens the copy."""
    new_id = request.form.get("new_id", "").strip()
    audit_note(scenario=scenario_id, copy=new_id)
    try:
        copy_id = scenario_service.duplicate(scenario_id, new_id, utcnow()).id
    except SteplineError as exc:
        flash(_("Duplicate refused: %(error)s", error=exc), "error")
        return _back(scenario_id, "#manage")
    flash(_("%(id)s copied to %(copy)s (draft).", id=scenario_id, copy=copy_id), "success")
    return _back(copy_id)


@bp.route("/scenarios/<scenario_id>/delete", methods=["POST"])
@requires("admin")
def scenario_delete(scenario_id: str) -> Response:
    """Delete a scenario that is not live (the form asks for a confirmation tick)."""
    if request.form.get("confirm") != "yes":
        flash(_("Tick the confirmation box to delete %(id)s.", id=scenario_id), "error")
        return _back(scenario_id, "#manage")
    audit_note(scenario=scenario_id)
    try:
        errored = scenario_service.delete(scenario_id, utcnow())
    except SteplineError as exc:
        flash(_("Delete refused: %(error)s", error=exc), "error")
        return _back(scenario_id, "#manage")
    message = _("%(id)s deleted.", id=scenario_id)
    if errored:
        message += " " + _("These live scenarios enrolled into it and are now in error: %(ids)s",
                           ids=", ".join(errored))
    flash(message, "success")
    return redirect(url_for("dashboard.scenarios"))
