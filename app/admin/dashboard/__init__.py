"""The ops dashboard (SPEC §5) at ``/admin``: server-rendered pages, SVG charts, no third-party JS.

Every page needs a logged-in session (``/admin/login``, server-side) or a bearer token, and
declares its role with ``@requires``; every POST needs the session's CSRF token.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from app.admin.auth import PUBLIC_ENDPOINTS, is_authenticated
from app.admin.dashboard import csrf, formatting
from app.admin.sessions import ServerSessionInterface

bp = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/admin",
    template_folder="../templates",
    static_folder="../static",
    static_url_path="/static",
)
bp.add_app_template_global(csrf.csrf_field, "csrf_field")
for _name, _filter in formatting.FILTERS.items():
    bp.add_app_template_filter(_filter, _name)

SESSION_LIFETIME = timedelta(hours=12)
# no inline script or style anywhere: charts are SVG with presentation attributes and CSS classes
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


@bp.before_request
def _require_login() -> Response | None:
    """Pages redirect to the login form; the bearer token works too. Then check CSRF."""
    if request.endpoint not in PUBLIC_ENDPOINTS and not is_authenticated():
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("dashboard.login", next=(target or "").rstrip("?") or None))
    csrf.protect()
    return None


@bp.after_request
def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "dashboard.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(HTTPException)
def _error_page(exc: HTTPException) -> tuple[str, int]:
    """Dashboard errors (403 CSRF, 404, 400) as a page in the dashboard's layout."""
    code = exc.code or 500
    return render_template("dashboard/error.html", code=code, name=exc.name, description=exc.description), code


def init_app(app: Flask) -> None:
    """Register the dashboard blueprint, its template helpers and the session cookie policy."""
    from app.admin.dashboard import (  # noqa: F401 - importing registers the routes  # noqa: F401
        views_account,
        views_audit,
        views_auth,
        views_contacts,
        views_conversations,
        views_deliveries,
        views_friends,
        views_overview,
        views_scenario_actions,
        views_scenarios,
        views_staff,
    )

    app.session_interface = ServerSessionInterface(SESSION_LIFETIME)
    app.permanent_session_lifetime = SESSION_LIFETIME
    app.register_blueprint(bp)
