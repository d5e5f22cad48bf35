"""The dashboard's blueprint: its before/after-request policy (login, CSRF, security headers) and
error page. Pages register themselves on :data:`bp` from the ``views_*`` modules."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from app.admin.auth import PUBLIC_ENDPOINTS, is_authenticated
from app.admin.dashboard import csrf, formatting

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
