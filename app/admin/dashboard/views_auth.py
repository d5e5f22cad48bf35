"""Dashboard login and logout: email and password (or ``admin`` + ADMIN_PASSWORD), throttled,
a fresh server-side session per login, CSRF on both forms."""

from __future__ import annotations

import hashlib
import hmac
import logging

from flask import redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from redis.exceptions import RedisError
from werkzeug.wrappers import Response

from app.admin.auth import current_identity, set_identity
from app.admin.dashboard.blueprint import bp
from app.admin.dashboard.csrf import rotate_csrf_token
from app.admin.sessions import ServerSession
from app.current import current_settings
from app.services import login_throttle
from app.services import staff as staff_service
from app.staff.roles import BUILTIN_OWNER, Identity

log = logging.getLogger(__name__)


def password_is_valid(presented: str) -> bool:
    """ADMIN_PASSWORD: compare SHA-256 digests in constant time (equal lengths, so nothing leaks);
    an unset ADMIN_PASSWORD accepts nothing."""
    expected = current_settings().admin_password
    if not expected or not presented:
        return False
    return hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), hashlib.sha256(expected.encode()).digest())


def _safe_next(target: str | None) -> str:
    """Only local dashboard paths: never redirect a fresh login to another site."""
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.overview")


def _check(login_name: str, password: str) -> Identity | None:
    if login_name == BUILTIN_OWNER:
        return staff_service.builtin_owner() if password_is_valid(password) else None
    return staff_service.authenticate(login_name, password)


def start_session(identity: Identity) -> None:
    """A fresh session id for ``identity`` (no fixation) and a new CSRF token."""
    assert isinstance(session, ServerSession)
    session.log_in(identity.login, identity.staff_id)
    rotate_csrf_token()
    set_identity(identity)


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int, dict[str, str]] | tuple[str, int]:
    """The login form. An empty login name means ``admin`` (the ADMIN_PASSWORD owner)."""
    if request.method == "GET":
        return render_template("dashboard/login.html", next=request.args.get("next", ""))
    form = request.form
    login_name = (form.get("email") or form.get("login") or form.get("username") or BUILTIN_OWNER).strip().lower()
    address = request.remote_addr or "unknown"
    try:
        return _login(login_name, address)
    except RedisError:
        # the throttle cannot count: refuse rather than let guesses through unthrottled (closed by default)
        log.warning("dashboard login refused for %s from %s: the login throttle (Redis) does not answer",
                    login_name, address)
        return render_template("dashboard/login.html", error=_("Logins are paused for a moment: try again shortly."),
                               email=login_name, next=request.form.get("next", "")), 503, {"Retry-After": "5"}


def _login(login_name: str, address: str) -> Response | tuple[str, int, dict[str, str]] | tuple[str, int]:
    """Throttle, check, record: the login itself once the form is read."""
    wait = login_throttle.retry_after(login_name, address)
    if wait:
        log.warning("dashboard login throttled for %s from %s", login_name, address)
        return render_template("dashboard/login.html", error=_("Too many failed logins: try again later."),
                               email=login_name, next=request.form.get("next", "")), 429, {"Retry-After": str(wait)}
    identity = _check(login_name, request.form.get("password", ""))
    if identity is None:
        login_throttle.record_failure(login_name, address)
        log.warning("dashboard login failed from %s", address)
        return render_template("dashboard/login.html", error=_("Wrong email or password."),
                               email=login_name, next=request.form.get("next", "")), 401
    login_throttle.forget_account(login_name)
    target = _safe_next(request.form.get("next"))
    start_session(identity)
    log.info("dashboard login of %s from %s", identity.login, address)
    return redirect(target)


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """End the session: its row is deleted, so a copied cookie is refused from now on (POST with
    CSRF, so a link elsewhere cannot log the operator out)."""
    current_identity()  # resolved before the session ends: the audit record names who left
    assert isinstance(session, ServerSession)
    session.end()
    return redirect(url_for("dashboard.login"))
