"""The ops dashboard (SPEC §5) at ``/admin``: server-rendered pages, SVG charts, no third-party JS.

Every page needs a logged-in session (``/admin/login``, server-side) or a bearer token, and
declares its role with ``@requires``; every POST needs the session's CSRF token.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from app.admin.dashboard.blueprint import bp
from app.admin.sessions import ServerSessionInterface

SESSION_LIFETIME = timedelta(hours=12)


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
