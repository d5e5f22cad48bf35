"""Your own account: change password (ends your other sessions), log out everywhere, and the
public page behind a one-time invite link."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from app.admin.auth import audit_note, current_identity, requires, set_identity
from app.admin.dashboard.blueprint import bp
from app.admin.sessions import ServerSession
from app.errors import SteplineError
from app.services import staff as service
from app.staff.credentials import digest
from app.staff.roles import Identity


def _identity() -> Identity:
    identity = current_identity()
    assert identity is not None  # @requires ran first
    return identity


@bp.route("/account")
@requires("viewer")
def account() -> str:
    return render_template("dashboard/account.html", section="account", identity=_identity())


@bp.route("/account/password", methods=["POST"])
@requires("viewer")
def change_password() -> Response | tuple[str, int]:
    """Needs the current password; every other session of the account ends."""
    identity = _identity()
    if identity.staff_id is None:
        abort(400, description="The built-in admin's password is ADMIN_PASSWORD in the environment.")
    assert isinstance(session, ServerSession)
    keep = digest(session.session_id) if session.session_id else None
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        return render_template("dashboard/account.html", section="account", identity=identity,
                               error=_("The two new passwords differ.")), 400
    try:
        service.change_own_password(identity.staff_id, request.form.get("current_password", ""), new, keep)
    except SteplineError as exc:
        return render_template("dashboard/account.html", section="account", identity=identity, error=str(exc)), 400
    flash(_("Password changed; your other sessions have ended."), "success")
    return redirect(url_for("dashboard.account"))


@bp.route("/account/logout-everywhere", methods=["POST"])
@requires("viewer")
def logout_everywhere() -> Response:
    """End every session of this login, on every device, this one included."""
    ended = service.end_all_sessions(_identity())
    audit_note(sessions_ended=ended)
    assert isinstance(session, ServerSession)
    session.end()
    return redirect(url_for("dashboard.login"))


@bp.route("/invite/<secret>", methods=["GET", "POST"])
def accept_invite(secret: str) -> str | Response | tuple[str, int]:
    """Public: the one-time link an owner sent; choosing a password uses it up."""
    email = service.invite_email(secret) if len(secret) <= 128 else None
    if email is None:
        return render_template("dashboard/invite.html", hide_nav=True, invalid=True), 404
    if request.method == "GET":
        return render_template("dashboard/invite.html", hide_nav=True, email=email)
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        return render_template("dashboard/invite.html", hide_nav=True, email=email,
                               error=_("The two passwords differ.")), 400
    try:
        service.accept_invite(secret, new)
    except SteplineError as exc:
        return render_template("dashboard/invite.html", hide_nav=True, email=email, error=str(exc)), 400
    identity = service.identify_staff(service.get_staff(email).id)
    if identity is not None:
        set_identity(identity)  # the audit record names who accepted, never the link
    audit_note(target=email)
    flash(_("Password set: log in with %(email)s.", email=email), "success")
    return redirect(url_for("dashboard.login"))
