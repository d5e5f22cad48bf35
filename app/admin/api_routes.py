"""Admin API for friend-add routes: ``PUT/GET/DELETE /admin/api/routes/<id>``, ``GET /admin/api/routes``."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from app.admin.auth import audit_note, requires
from app.current import current_settings
from app.models.base import utcnow
from app.services import routes

bp = Blueprint("admin_api_routes", __name__, url_prefix="/admin/api")


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")


@bp.put("/routes/<route_id>")
@requires("admin")
def put_route(route_id: str) -> Response:
    """``{"name", "actions": [{tag} | {enroll} | {set}], "channel"}`` → the route with ``url`` and ``qr``."""
    body = request.get_json(silent=True)
    answer, created = routes.put_route(current_settings(), route_id, body, utcnow())
    audit_note(route=route_id, created=created)
    return _json(answer, 201 if created else 200)


@bp.get("/routes")
@requires("viewer")
def list_routes() -> Response:
    """Every route with visits, logins, new friends and blocked since."""
    return _json(routes.list_routes(current_settings()))


@bp.get("/routes/<route_id>")
@requires("viewer")
def get_route(route_id: str) -> Response:
    return _json(routes.get_route(current_settings(), route_id))


@bp.delete("/routes/<route_id>")
@requires("admin")
def delete_route(route_id: str) -> Response:
    routes.delete_route(route_id)
    audit_note(route=route_id)
    return _json({"deleted": route_id})
