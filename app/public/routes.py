"""Friend-add routes in the browser: ``/r/<id>`` (visit → LINE Login), its QR code, and
``/r/callback`` (LINE Login's redirect). Errors are a plain 400 page; nothing is recorded."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from app.current import current_settings
from app.errors import NotFound
from app.measure.line_login import LoginRejected
from app.models.base import utcnow
from app.services import routes
from app.services.routes import LoginNotConfigured

bp = Blueprint("routes", __name__, template_folder="templates")


def _page(status: int, title: str, message: str) -> Response:
    html = render_template("public/message.html", title=title, message=message)
    return Response(html, status=status, mimetype="text/html", headers={"Cache-Control": "no-store"})


@bp.get("/r/callback")
def login_callback() -> Response:
    """LINE Login redirects here with ``code`` and ``state`` (or ``error``)."""
    try:
        done = routes.finish_login(current_settings(), code=request.args.get("code"),
                                   state=request.args.get("state"), error=request.args.get("error"), now=utcnow())
    except LoginRejected as exc:
        return _page(400, "Login failed", f"{exc}. Nothing was recorded.")
    except LoginNotConfigured:
        return _page(503, "Not available", "Friend-add routes are not configured on this server.")
    if done.redirect_to:
        return Response(status=302, headers={"Location": done.redirect_to, "Cache-Control": "no-store"})
    return _page(200, "Thank you", "You are registered. Open LINE to chat with us.")


@bp.get("/r/<route_id>")
def visit(route_id: str) -> Response:
    """Count the visit and send the browser to LINE Login (asking to add the bot)."""
    try:
        target = routes.visit(current_settings(), route_id)
    except NotFound:
        return _page(404, "Unknown link", "This link does not exist.")
    except LoginNotConfigured:
        return _page(503, "Not available", "Friend-add routes are not configured on this server.")
    return Response(status=302, headers={"Location": target, "Cache-Control": "no-store"})


@bp.get("/r/<route_id>/qr.svg")
def qr(route_id: str) -> Response:
    try:
        svg = routes.qr_svg(current_settings(), route_id)
    except NotFound:
        return _page(404, "Unknown link", "This link does not exist.")
    except LoginNotConfigured:
        return _page(503, "Not available", "PUBLIC_URL is not set on this server.")
    return Response(svg, mimetype="image/svg+xml")
