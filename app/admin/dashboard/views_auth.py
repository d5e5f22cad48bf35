"""Dashboard login and logout (ADMIN_PASSWORD, a session cookie, CSRF on both forms)."""

from __future__ import annotations

import hashlib
import hmac
import logging

from flask import redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from app import current_settings
from app.admin.auth import SESSION_KEY
from app.admin.dashboard import bp
from app.admin.dashboard.csrf import rotate_csrf_token

log = logging.getLogger(__name__)


def password_is_valid(presented: str) -> bool:
    """Compare SHA-256 digests in constant time (equal lengths, so nothing leaks); an unset
    ADMIN_PASSWORD accepts nothing."""
    expected = current_settings().admin_password
    if not expected or not presented:
        return False
    return hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), hashlib.sha256(expected.encode()).digest())


def _safe_next(target: str | None) -> str:
    """Only local dashboard paths: never redirect a fresh login to another site."""
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.overview")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    """The password form; a success starts a fresh session (no fixation) with a new CSRF token."""
    if not current_settings().admin_password:
        return render_template("dashboard/login.html", error=_("ADMIN_PASSWORD is not set: the dashboard is closed."),
                               disabled=True), 503
    if request.method == "GET":
        return render_template("dashboard/login.html", next=request.args.get("next", ""))
    if not password_is_valid(request.form.get("password", "")):
        log.warning("dashboard login failed from %s", request.remote_addr)
        return render_template("dashboard/login.html", error=_("Wrong password."),
                               next=request.form.get("next", "")), 401
    target = _safe_next(request.form.get("next"))
    session.clear()
    session[SESSION_KEY] = True
    session.permanent = True
    rotate_csrf_token()
    log.info("dashboard login from %s", request.remote_addr)
    return redirect(target)


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """End the session (POST with CSRF, so a link elsewhere cannot log the operator out)."""
    session.clear()
    return redirect(url_for("dashboard.login"))
