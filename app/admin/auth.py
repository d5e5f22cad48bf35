"""Who is asking and what they may do (SPEC §7), decided in ONE place for every admin route.

A request is identified once: a bearer token (``ADMIN_TOKEN`` = the built-in owner, or a staff
member's named token) or else the dashboard session (server-side, see :mod:`app.admin.sessions`).
Views declare what they need with :func:`requires`; tests walk ``app.url_map`` and fail on a
route without a declaration. A session cookie on the API only reads: API calls carry no CSRF
token, so writes there need a bearer token.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, current_app, g, has_request_context, jsonify, redirect, request, session, url_for
from werkzeug.wrappers import Response

from app.current import current_settings
from app.services import audit
from app.services import staff as staff_service
from app.staff.roles import BUILTIN_OWNER, PERMISSIONS, ROLES, Identity

__all__ = ["PERMISSIONS", "ROLES", "audit_note", "current_actor", "current_identity", "requires"]

F = TypeVar("F", bound=Callable[..., Any])
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# routes anyone may reach (they authenticate the person); everything else declares a permission
PUBLIC_ENDPOINTS = frozenset({"dashboard.login", "dashboard.static", "dashboard.accept_invite"})
_IDENTITY = "stepline_identity"
_VIA_TOKEN = "stepline_via_token"
log = logging.getLogger(__name__)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _is_admin_token(presented: str) -> bool:
    """Constant-time comparison; an unset ADMIN_TOKEN accepts nothing."""
    expected = current_settings().admin_token
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())


def _resolve() -> Identity | None:
    token = bearer_token()
    g.setdefault(_VIA_TOKEN, token is not None)
    if token is not None:  # a wrong token never falls back to the cookie
        if _is_admin_token(token):
            return staff_service.builtin_owner()
        return staff_service.identify_token(token) if len(token) <= 256 else None
    login = getattr(session, "login", None)
    if login == BUILTIN_OWNER:  # only while ADMIN_PASSWORD is still configured
        return staff_service.builtin_owner() if current_settings().admin_password else None
    staff_id = getattr(session, "staff_id", None)
    return staff_service.identify_staff(staff_id) if staff_id is not None else None


def current_identity() -> Identity | None:
    """This request's identity (resolved once per request), or None."""
    if not has_request_context():
        return None
    if _IDENTITY not in g:
        g.setdefault(_IDENTITY, _resolve())
    identity: Identity | None = g.get(_IDENTITY)
    return identity


def set_identity(identity: Identity) -> None:
    """After a login: the rest of this request (and its audit record) acts as ``identity``."""
    g.setdefault(_VIA_TOKEN, False)
    setattr(g, _IDENTITY, identity)


def authenticated_by_token() -> bool:
    """A bearer token is no ambient authority: such requests need no CSRF token."""
    return current_identity() is not None and bool(g.get(_VIA_TOKEN))


def is_authenticated() -> bool:
    return current_identity() is not None


def can(need: str) -> bool:
    """For templates (``can("admin")``): hide what this identity may not do."""
    identity = current_identity()
    return identity is not None and identity.may(need)


def _is_api() -> bool:
    return request.path.startswith("/admin/api")


def _unauthenticated(details: str) -> Response:
    response = jsonify(error="authentication required", details=[details])
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="stepline-admin"'
    return response


def _denied(need: str) -> Response | None:
    """None when the request may go on; else the 401/403 (or, for pages, the login redirect)."""
    identity = current_identity()
    if identity is None:
        if _is_api():
            return _unauthenticated("send Authorization: Bearer <token>")
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("dashboard.login", next=(target or "").rstrip("?") or None))
    if _is_api() and request.method not in SAFE_METHODS and not authenticated_by_token():
        return _unauthenticated("API writes need Authorization: Bearer <token>; a dashboard session only reads")
    if identity.may(need):
        return None
    if _is_api():
        response = jsonify(error="forbidden", details=[{"needs": need}])
        response.status_code = 403
        return response
    abort(403, description=f"This needs the {need} role or permission.")


def requires(need: str) -> Callable[[F], F]:
    """Mark a view as needing the role or permission ``need`` (one of :data:`PERMISSIONS`).

    API views answer 401/403 JSON; dashboard views redirect to the login page or answer 403.
    """
    if need not in PERMISSIONS:
        raise ValueError(f"unknown role or permission {need!r}; expected one of {PERMISSIONS}")

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            denied = _denied(need)
            return denied if denied is not None else view(*args, **kwargs)

        wrapper.required_permission = need  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate


# Older views were written against this name; it means what it always meant: the admin role.
require_admin = requires("admin")


def current_actor() -> str:
    """Who is acting in this request, for the audit log and the conversation log
    (a staff email, ``admin`` for the built-in owner, ``token:<name>``; ``cli`` outside a request)."""
    if not has_request_context():
        return "cli"
    identity = current_identity()
    return identity.actor if identity is not None else "anonymous"


def audit_note(**details: object) -> None:
    """Add details (never secrets or friends' message bodies) to this request's audit record.
    ``target=...`` names the object when the URL does not."""
    notes: dict[str, object] = g.setdefault("audit_details", {})
    notes.update(details)


def _is_admin_path() -> bool:
    return request.path == "/admin" or request.path.startswith("/admin/")


def _closed_gate() -> Response | None:
    """SPEC §7 'closed means closed': no staff, no ADMIN_PASSWORD, no ADMIN_TOKEN → 503 everywhere."""
    if not _is_admin_path():
        return None
    settings = current_settings()
    if settings.admin_password or settings.admin_token or staff_service.any_enabled_staff():
        return None
    response = jsonify(error="admin is closed", details=[
        "no staff account, ADMIN_PASSWORD or ADMIN_TOKEN is configured: "
        "run flask --app wsgi staff create EMAIL --role owner"])
    response.status_code = 503
    return response


def _is_export() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "required_permission", None) == "export"


def _audit_write(response: Response) -> Response:
    """Record every successful non-GET /admin request, and every export (a read, but SPEC §7 wants
    who took the data and why: ``?reason=`` or ``audit_note(reason=...)``): actor, endpoint, view
    args, notes and query parameters, address."""
    if not _is_admin_path() or response.status_code >= 400:
        return response
    if request.method in SAFE_METHODS and not _is_export():
        return response
    identity = g.get(_IDENTITY)
    if identity is None or request.endpoint is None:
        return response
    notes: dict[str, Any] = dict(g.get("audit_details", {}))
    target = notes.pop("target", None)
    if target is None and request.view_args:
        target = "/".join(str(value) for value in request.view_args.values())
    for key, value in request.args.items():
        notes.setdefault(key, value)
    try:
        audit.record(identity.actor, request.endpoint, str(target) if target is not None else None, notes,
                     request.remote_addr)
    except Exception:  # noqa: BLE001 - the write itself committed; say loudly that its record did not
        log.exception("audit record failed for %s %s", request.method, request.endpoint)
    return response


def init_app(app: Flask) -> None:
    """The 503 gate before every /admin request and the audit record after each write."""
    app.before_request(_closed_gate)
    app.after_request(_audit_write)
    app.add_template_global(can, "can")
    app.add_template_global(current_identity, "current_identity")
