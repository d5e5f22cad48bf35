"""Stepline: a LINE Messaging API step-delivery server. ``create_app`` builds the web app."""

from __future__ import annotations

import logging
import os

from flask import Flask

from app import logs
from app.config import Settings, load_settings
from app.extensions import bind_services
from app.secret_key import instance_secret_key
from app.work import Work, bind_work


def create_app(settings: Settings | None = None, *, work: Work | None = None) -> Flask:
    """Build the Flask app; nothing connects until a request or command needs it.

    ``work`` is where the app hands background work (``workers.port.RQWork`` in ``wsgi.py``); an
    app built without it answers every request that would enqueue with an error.
    """
    settings = settings or load_settings()
    app = Flask(__name__, instance_path=os.path.abspath(settings.instance_path) if settings.instance_path else None)
    from app.body_limit import BoundedJSONProvider

    app.json = BoundedJSONProvider(app)
    app.config.update(
        SECRET_KEY=settings.secret_key or instance_secret_key(app.instance_path),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        TESTING=settings.testing,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.extensions["stepline"] = settings
    bind_work(app, work)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    from app.limits import DatabaseIntConverter

    app.url_map.converters["int"] = DatabaseIntConverter  # an id no column holds is a 404, not a 500
    bind_services(settings)
    logs.configure(logging.INFO)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Japanese stays readable in every API answer

    from app import body_limit, i18n
    from app.health import bp as health_bp
    from app.webhook.views import bp as webhook_bp

    body_limit.init_app(app)
    i18n.init_app(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(webhook_bp)
    _register_optional_blueprints(app)

    from app.cli import register_cli

    register_cli(app)

    from app.public.fastlinks import TrackedLinks
    from app.webhook.fast import WebhookFastPath

    app.wsgi_app = TrackedLinks(app.wsgi_app, settings.link_signing_key)  # type: ignore[method-assign]
    app.wsgi_app = WebhookFastPath(app.wsgi_app, settings,  # type: ignore[method-assign]
                                   work.signal_friends if work is not None else None)
    return app


def _register_optional_blueprints(app: Flask) -> None:
    """Admin API and dashboard register themselves through ``app.admin.init_app``."""
    from app.admin import init_app as init_admin

    init_admin(app)

    from app.public.routes import bp as routes_bp

    app.register_blueprint(routes_bp)

    from app.metrics.exporter import bp as metrics_bp

    app.register_blueprint(metrics_bp)
