"""Admin HTTP API (/admin/api, bearer token) and the ops dashboard (/admin, login)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register every admin blueprint and the JSON error handlers of the API."""
    from app.admin.api_errors import register_error_handlers

    register_error_handlers(app)

    from app.admin.api_scenarios import bp as scenarios_api_bp

    app.register_blueprint(scenarios_api_bp)

    from app.admin.api_delivery import bp as delivery_api_bp

    app.register_blueprint(delivery_api_bp)

    from app.admin.api_quota import bp as quota_api_bp

    app.register_blueprint(quota_api_bp)

    from app.admin.api_rulesets import bp as rulesets_api_bp

    app.register_blueprint(rulesets_api_bp)

    from app.admin.api_conversations import bp as conversations_api_bp

    app.register_blueprint(conversations_api_bp)

    from app.admin.dashboard import init_app as init_dashboard

    init_dashboard(app)
