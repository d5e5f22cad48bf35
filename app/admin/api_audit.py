"""``GET /admin/api/audit``: the audit log, newest first (SPEC §7; admins)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from app.admin.auth import requires
from app.errors import BadRequest
from app.services import audit

bp = Blueprint("admin_api_audit", __name__, url_prefix="/admin/api")
MAX_ID = 2**63 - 1


def _positive_int(name: str, default: int | None, maximum: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise BadRequest(f"bad {name}", [{"path": name, "message": f"expected an integer from 1 to {maximum}"}])
    return int(raw)


@bp.get("/audit")
@requires("admin")
def audit_log() -> Response:
    """``?limit=N`` (1–500, default 100), ``actor=EMAIL``, ``before=<id>`` for the next page:
    ``[{"id", "at", "actor", "action", "target", "details", "source"}]``."""
    limit = _positive_int("limit", 100, audit.MAX_PAGE) or 100
    before = _positive_int("before", None, MAX_ID)
    actor = request.args.get("actor") or None
    if actor is not None and len(actor) > 254:
        raise BadRequest("bad actor", [{"path": "actor", "message": "at most 254 characters"}])
    rows = audit.entries(limit=limit, actor=actor, before_id=before)
    return current_app.response_class(current_app.json.dumps(rows, ensure_ascii=False) + "\n",
                                      mimetype="application/json")
