"""Staff management for owners: invite (one-time link) or set a password, change role, export
grant, disable/enable, list/create/revoke API tokens. Secrets are shown once, in the response."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from app.admin.auth import audit_note, requires
from app.admin.dashboard.blueprint import bp
from app.errors import SteplineError
from app.services import staff as service
from app.staff.roles import ROLES


def _render(status: int = 200, **context: Any) -> tuple[str, int]:
    rows = service.list_staff()
    tokens = {row.email: service.list_tokens(row.email) for row in rows}
    return render_template("dashboard/staff.html", section="staff", staff=rows, tokens=tokens, roles=ROLES,
                           **context), status


def _back() -> Response:
    return redirect(url_for("dashboard.staff"))


@bp.route("/staff")
@requires("owner")
def staff() -> tuple[str, int]:
    """Every account with its role, grants, state and tokens."""
    return _render()


@bp.route("/staff", methods=["POST"])
@requires("owner")
def create_staff() -> tuple[str, int]:
    """A new account: with the password typed here, or with a one-time invite link shown once."""
    form = request.form
    password = form.get("password") or None
    try:
        row = service.create_staff(form.get("email", ""), form.get("role", ""), password, form.get("name", ""))
        link = None if password else url_for("dashboard.accept_invite", secret=service.create_invite(row.email),
                                             _external=True)
    except SteplineError as exc:
        return _render(400, error=str(exc), form={k: v for k, v in form.items() if k != "password"})
    audit_note(target=row.email, role=row.role, invited=link is not None)
    return _render(201, created=row.email, invite_link=link)


@bp.route("/staff/<email>/role", methods=["POST"])
@requires("owner")
def set_role(email: str) -> Response | tuple[str, int]:
    try:
        row = service.set_role(email, request.form.get("role", ""))
    except SteplineError as exc:
        return _render(400, error=str(exc))
    audit_note(role=row.role)
    flash(_("%(email)s is now %(role)s.", email=row.email, role=row.role), "success")
    return _back()


@bp.route("/staff/<email>/enabled", methods=["POST"])
@requires("owner")
def set_enabled(email: str) -> Response | tuple[str, int]:
    """Disabling ends the account's sessions and deletes its tokens at once."""
    enabled = request.form.get("enabled") == "1"
    try:
        row = service.set_enabled(email, enabled)
    except SteplineError as exc:
        return _render(400, error=str(exc))
    audit_note(enabled=enabled)
    flash(_("%(email)s enabled.", email=row.email) if enabled else
          _("%(email)s disabled: sessions ended, tokens revoked.", email=row.email), "success")
    return _back()


@bp.route("/staff/<email>/export", methods=["POST"])
@requires("owner")
def set_export(email: str) -> Response | tuple[str, int]:
    granted = request.form.get("granted") == "1"
    try:
        service.set_export(email, granted)
    except SteplineError as exc:
        return _render(400, error=str(exc))
    audit_note(export=granted)
    return _back()


@bp.route("/staff/<email>/invite", methods=["POST"])
@requires("owner")
def invite(email: str) -> tuple[str, int]:
    """A new one-time set-password link (the previous one stops working)."""
    try:
        secret = service.create_invite(email)
    except SteplineError as exc:
        return _render(400, error=str(exc))
    return _render(200, invite_for=email, invite_link=url_for("dashboard.accept_invite", secret=secret,
                                                              _external=True))


@bp.route("/staff/<email>/password", methods=["POST"])
@requires("owner")
def set_password(email: str) -> Response | tuple[str, int]:
    """Set someone's password; their sessions end."""
    try:
        service.set_password(email, request.form.get("password", ""))
    except SteplineError as exc:
        return _render(400, error=str(exc))
    flash(_("Password of %(email)s set; their sessions ended.", email=email), "success")
    return _back()


@bp.route("/staff/<email>/tokens", methods=["POST"])
@requires("owner")
def create_token(email: str) -> tuple[str, int]:
    name = request.form.get("name", "")
    try:
        secret = service.create_token(email, name)
    except SteplineError as exc:
        return _render(400, error=str(exc))
    audit_note(name=name)
    return _render(201, token_for=email, token_name=name, new_token=secret)


@bp.route("/staff/<email>/tokens/<name>/revoke", methods=["POST"])
@requires("owner")
def revoke_token(email: str, name: str) -> Response | tuple[str, int]:
    try:
        service.revoke_token(email, name)
    except SteplineError as exc:
        return _render(404, error=str(exc))
    flash(_("Token %(name)s of %(email)s revoked.", name=name, email=email), "success")
    return _back()
