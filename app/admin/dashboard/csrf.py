"""CSRF protection for the dashboard: one random token per session, checked on every POST.

Forms carry it as a hidden ``csrf_token`` input (``{{ csrf_field() }}``). Requests that
authenticate with a bearer token are exempt: a header is not ambient authority.
"""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session
from flask_babel import gettext as _
from markupsafe import Markup, escape

from app.admin.auth import authenticated_by_token

CSRF_SESSION_KEY = "csrf_token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """This session's token, created on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def csrf_field() -> Markup:
    """The hidden input every dashboard form includes."""
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf_token())}">')


def rotate_csrf_token() -> str:
    """A fresh token (after login, so a token seen before login is worthless afterwards)."""
    session.pop(CSRF_SESSION_KEY, None)
    return csrf_token()


def token_matches(presented: str | None) -> bool:
    """Constant-time comparison with the session's token; no session token accepts nothing."""
    expected = session.get(CSRF_SESSION_KEY)
    if not isinstance(expected, str) or not expected or not presented:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def protect() -> None:
    """``before_request`` hook: 403 for a state-changing request without the session's token."""
    if request.method in SAFE_METHODS or authenticated_by_token():
        return
    presented = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token")
    if not token_matches(presented):
        abort(403, description=_("CSRF token missing or invalid: reload the page and try again."))
