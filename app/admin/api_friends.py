"""Admin HTTP API for friends (SPEC §8): read, edit, search, bulk actions, CSV import, encrypted export."""

from __future__ import annotations

import json
import tempfile
from typing import Any

import redis
from flask import Blueprint, Response, request, send_file

from app.admin.api_errors import error_response
from app.admin.auth import audit_note, current_actor, requires
from app.errors import BadRequest
from app.models.base import utcnow
from app.services import contacts as service
from app.services import friend_export, friend_import

bp = Blueprint("admin_api_friends", __name__, url_prefix="/admin/api")
IMPORT_MAX_BYTES = 2 * 1024 ** 3  # a million-row CSV is far past the app-wide 1 MiB body limit
BULK_MAX_BYTES = 64 * 1024 ** 2  # up to 1,000,000 user ids


def json_response(data: Any, status: int = 200) -> Response:
    """JSON as UTF-8 text, never ``\\u``-escaped."""
    return Response(json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json")


def json_body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("expected a JSON body", [{"message": "send Content-Type: application/json"}])
    return data


@bp.get("/friends")
@requires("viewer")
def search_friends() -> Response:
    """``?q=&filter=<JSON>&segment=<id>&page=1&per_page=100`` → ``{"total", "page", "friends"}``."""
    page, per_page = service.page_numbers(request.args.get("page"), request.args.get("per_page"))
    return json_response(service.search(request.args.get("q"), request.args.get("filter"), request.args.get("segment"),
                                        page, per_page, utcnow()))


@bp.get("/friends/<user_id>")
@requires("viewer")
def get_friend(user_id: str) -> Response:
    return json_response(service.get_friend(user_id, request.args.get("channel")))


@bp.patch("/friends/<user_id>")
@requires("operator")
def patch_friend(user_id: str) -> Response:
    """``{"attributes": {"k": v | null}, "add_tags", "remove_tags", "opted_out"}`` → the friend."""
    body = json_body()
    friend = service.patch_friend(user_id, body, utcnow(), request.args.get("channel"))
    audit_note(user_id=user_id, changed=sorted(body) if isinstance(body, dict) else [])
    return json_response(friend)


def _dry_run() -> bool:
    return request.args.get("dry_run", "").lower() in ("1", "true", "yes")


@bp.post("/friends/bulk")
@requires("operator")
def bulk() -> Response:
    """One action on every selected friend, in one transaction; ``?dry_run=1`` answers the impact."""
    request.max_content_length = BULK_MAX_BYTES
    body = json_body()
    dry_run = _dry_run()
    result = service.bulk(body, utcnow(), dry_run=dry_run)
    if not dry_run:
        audit_note(action=body.get("action"), value=body.get("value"), select=_select_kind(body),
                   matched=result["matched"], changed=result["changed"])
    return json_response(result)


def _select_kind(body: dict[str, Any]) -> str:
    select = body.get("select")
    return next(iter(select)) if isinstance(select, dict) and select else "all"


@bp.post("/friends/import")
@requires("operator")
def import_friends() -> Response:
    """``text/csv`` body: upsert friends; 422 with every bad cell and nothing changed."""
    request.max_content_length = IMPORT_MAX_BYTES
    stream = request.files["file"].stream if "file" in request.files else request.stream
    result = friend_import.import_csv(friend_import.text_lines(stream), utcnow(),  # type: ignore[arg-type]
                                      channel=request.args.get("channel", "default"))
    audit_note(**result.to_dict())
    return json_response(result.to_dict())


@bp.post("/friends/export")
@requires("export")
def export_friends() -> Response | tuple[Response, int]:
    """An AES-256 encrypted ZIP of ``friends.csv``; one per staff member per 30 minutes."""
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object", [{"message": 'send {"reason": ..., "password": ...}'}])
    reason, password = friend_export.check_request(body.get("reason"), body.get("password"))
    # the selection and the columns are checked before the window is spent
    criteria, columns = friend_export.check_export(body.get("select"), body.get("fields"))
    try:
        wait = friend_export.start_window(current_actor())
    except redis.RedisError:
        return error_response(503, "export throttle unavailable", ["Redis is down; try again later"])
    if wait:
        response, status = error_response(429, "one export per 30 minutes", [{"retry_after": wait}])
        response.headers["Retry-After"] = str(wait)
        return response, status
    target = tempfile.TemporaryFile()  # noqa: SIM115 - closed by send_file when the response ends
    try:
        rows = friend_export.write_export(criteria, columns, password, target, utcnow())
    except BaseException:
        target.close()
        friend_export.give_window_back(current_actor())  # nothing was exported
        raise
    target.seek(0)
    audit_note(reason=reason, rows=rows, columns=columns, select=_select_kind(body))
    return send_file(target, mimetype="application/zip", as_attachment=True, download_name="friends.zip")
