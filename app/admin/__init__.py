"""Admin HTTP API (/admin/api, bearer token) and the ops dashboard (/admin, login)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register every admin blueprint and the JSON error handlers of the API."""
    from app.admin.api_errors import register_error_handlers

    register_error_handlers(app)

    from app.admin.auth import init_app as init_auth

    init_auth(app)

    from app.admin.api_scenarios import bp as scenarios_api_bp

    app.register_blueprint(scenarios_api_bp)

    from app.admin.api_delivery import bp as delivery_api_bp

    app.register_blueprint(delivery_api_bp)

    from app.admin.api_quota import bp as quota_api_bp

    app.register_blueprint(quota_api_bp)

    from app.admin.api_audit import bp as audit_api_bp

    app.register_blueprint(audit_api_bp)
    from app.admin.api_routes import bp as routes_api_bp

    app.register_blueprint(routes_api_bp)
    from app.admin.openapi import bp as openapi_bp

    app.register_blueprint(openapi_bp)
    from app.admin.api_friends import bp as friends_api_bp

    app.register_blueprint(friends_api_bp)

    from app.admin.api_contacts import bp as contacts_api_bp

    app.register_blueprint(contacts_api_bp)
    from app.admin.api_rulesets import bp as rulesets_api_bp

    app.register_blueprint(rulesets_api_bp)

    from app.admin.api_conversations import bp as conversations_api_bp

    app.register_blueprint(conversations_api_bp)

    from app.admin.dashboard import init_app as init_dashboard

    init_dashboard(app)
