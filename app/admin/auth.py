"""Admin authentication: bearer ``ADMIN_TOKEN`` for the API, a logged-in session for the dashboard."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import jsonify, request, session

from app import current_settings

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "admin_logged_in"


def token_is_valid(presented: str | None) -> bool:
    """Constant-time comparison; an unset ADMIN_TOKEN accepts nothing."""
    expected = current_settings().admin_token
    if not expected or not presented:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_authenticated() -> bool:
    """A valid bearer token, or a dashboard session that logged in with the admin password."""
    return token_is_valid(bearer_token()) or bool(session.get(SESSION_KEY))


def api_is_authorized() -> bool:
    """API calls: the bearer token; a dashboard session only reads (its forms carry CSRF tokens,
    API calls do not, so a cookie alone must never change anything)."""
    if token_is_valid(bearer_token()):
        return True
    return request.method in SAFE_METHODS and bool(session.get(SESSION_KEY))


def require_admin(view: F) -> F:
    """API views: 401 JSON unless authorized (see :func:`api_is_authorized`)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not api_is_authorized():
            response = jsonify(error="authentication required", details=["send Authorization: Bearer $ADMIN_TOKEN"])
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="stepline-admin"'
            return response
        return view(*args, **kwargs)

    return cast(F, wrapper)


# --- The permission contract every admin view uses (SPEC §7). ---------------------------------
# Roles, each including the ones before it; ``export`` is a separate permission.
ROLES = ("viewer", "operator", "admin", "owner")
PERMISSIONS = ROLES + ("export",)


def requires(need: str) -> Callable[[F], F]:
    """Mark a view as needing the role or permission ``need`` (one of :data:`PERMISSIONS`).

    API views answer 401/403 JSON; dashboard views are guarded by the same policy.
    """
    if need not in PERMISSIONS:
        raise ValueError(f"unknown role or permission {need!r}; expected one of {PERMISSIONS}")

    def decorate(view: F) -> F:
        guarded = require_admin(view)
        guarded.required_permission = need  # type: ignore[attr-defined]
        return guarded

    return decorate


def current_actor() -> str:
    """Who is acting in this request, for the audit log and the conversation log
    (a staff email, ``admin`` for the built-in owner, or ``token:<name>``)."""
    return "admin"


def audit_note(**details: object) -> None:
    """Add details (never secrets or friends' message bodies) to this request's audit record."""
    from flask import g

    notes: dict[str, object] = g.setdefault("audit_details", {})
    notes.update(details)
