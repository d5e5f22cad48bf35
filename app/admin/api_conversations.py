"""Admin HTTP API for conversations (SPEC §9): chat log, operator messages, handoffs, rich menus."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.admin.api_errors import error_response
from app.admin.auth import audit_note, current_actor, requires
from app.current import current_settings
from app.errors import BadRequest
from app.models.base import utcnow
from app.scenarios.errors import ScenarioInvalid
from app.services import chats
from app.services import conversations as service
from app.services import richmenus as richmenu_service
from app.work import current_work

bp = Blueprint("admin_api_conversations", __name__, url_prefix="/admin/api")

DEFAULT_LIMIT = 50


@bp.errorhandler(service.MessagesInvalid)
def _messages_invalid(exc: service.MessagesInvalid) -> tuple[Response, int]:
    return error_response(422, str(exc), list(exc.details))


@bp.errorhandler(ScenarioInvalid)
def _definition_invalid(exc: ScenarioInvalid) -> tuple[Response, int]:
    return error_response(422, "rich menu is invalid", [issue.to_dict() for issue in exc.errors])


def _limit() -> int:
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest("bad limit", [{"path": "limit", "message": f"expected a whole number, got {raw!r}"}]) from None
    if not 1 <= limit <= 1000:
        raise BadRequest("bad limit", [{"path": "limit", "message": "expected 1..1000"}])
    return limit


@bp.get("/friends/<user_id>/messages")
@requires("viewer")
def list_messages(user_id: str) -> Response:
    """The newest ``limit`` entries of the friend's chat, oldest first."""
    limit = _limit()
    return jsonify(chats.messages_of(user_id, limit))


@bp.post("/friends/<user_id>/messages")
@requires("operator")
def send_messages(user_id: str) -> tuple[Response, int]:
    """Send staff messages: a free reply when a young unused token exists, else a push; once per key."""
    payload: Any = request.get_json(silent=True)
    if not isinstance(payload, dict) or "messages" not in payload:
        raise BadRequest("expected {\"messages\": [...]}", [{"path": "messages", "message": "expected a list"}])
    key = request.headers.get("Idempotency-Key") or str(payload.get("idempotency_key") or "")
    result = service.submit_operator_message(user_id, payload["messages"], idempotency_key=key,
                                             staff=current_actor(), settings=current_settings(), now=utcnow(),
                                             enqueue=current_work().send_operator_message)
    audit_note(via=result.via, messages=len(payload["messages"]) if isinstance(payload["messages"], list) else 0)
    status = 200 if result.status == "sent" else (202 if result.status == "queued" else 409)
    return jsonify(result.to_dict()), status


@bp.get("/handoffs")
@requires("viewer")
def list_handoffs() -> Response:
    """Open handoffs, the longest waiting first."""
    return jsonify(chats.open_handoffs())


@bp.post("/friends/<user_id>/handoff/close")
@requires("operator")
def close_handoff(user_id: str) -> Response:
    """Give the friend back to the bot."""
    return jsonify(chats.close_handoff(user_id, current_actor(), utcnow()))


@bp.get("/friends/<user_id>/conversation")
@requires("viewer")
def conversation_state(user_id: str) -> Response:
    """This friend's ``handoff`` and ``rich_menu`` (the fields the friend JSON carries)."""
    return jsonify(chats.conversation_of(user_id))


@bp.put("/richmenus/<menu_id>")
@requires("admin")
def put_richmenu(menu_id: str) -> tuple[Response, int]:
    """Load a rich menu (multipart: ``definition`` YAML/JSON, ``image`` PNG/JPEG) onto LINE."""
    definition = request.files.get("definition")
    image = request.files.get("image")
    text = definition.read().decode("utf-8", "replace") if definition else request.form.get("definition", "")
    if not text:
        raise BadRequest("definition required", [{"path": "definition", "message": "send the YAML as a file part"}])
    loaded = richmenu_service.load(
        [(definition.filename or f"{menu_id}.yaml") if definition else f"{menu_id}.yaml"], [text],
        images=[image.read() if image else None], settings=current_settings(), now=utcnow(), expected_id=menu_id)
    audit_note(line_id=loaded[0]["line_id"])
    return jsonify(loaded[0]), (201 if loaded[0]["action"] == "created" else 200)


@bp.get("/richmenus")
@requires("viewer")
def list_richmenus() -> Response:
    return jsonify(richmenu_service.list_menus())
