"""Admin HTTP API for fields and segments (SPEC §8)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from app.admin.api_errors import error_response
from app.admin.api_friends import json_body, json_response
from app.admin.auth import audit_note, requires
from app.errors import BadRequest
from app.models.base import utcnow
from app.services import fields as fields_service
from app.services import segments as segments_service

bp = Blueprint("admin_api_contacts", __name__, url_prefix="/admin/api")


@bp.errorhandler(segments_service.TooLarge)
def _too_large(exc: segments_service.TooLarge) -> tuple[Response, int]:
    return error_response(413, str(exc), list(exc.details))


@bp.get("/fields")
@requires("viewer")
def list_fields() -> Response:
    """Fields in display order; archived ones are hidden unless ``?archived=1``."""
    include = request.args.get("archived", "").lower() in ("1", "true", "yes")
    return json_response(fields_service.list_fields(include))


@bp.put("/fields/<name>")
@requires("admin")
def put_field(name: str) -> Response:
    """``{"type", "label", "choices", "archived", "position"}``; 201 when created."""
    body = json_body()
    data, created = fields_service.put_field(name, body, utcnow())
    audit_note(field=name, type=data["type"], archived=data["archived"])
    return json_response(data, 201 if created else 200)


def _segment_document() -> Any:
    raw = request.get_data(cache=False)
    if len(raw) > segments_service.MAX_DOCUMENT:
        raise segments_service.TooLarge(f"document over {segments_service.MAX_DOCUMENT // 1024} KiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8 text", [{"message": "send JSON or YAML as UTF-8"}]) from None
    return segments_service.parse_document(text)


@bp.get("/segments")
@requires("viewer")
def list_segments() -> Response:
    """``[{"id", "name", "filter", "count"}]``, counts evaluated afresh."""
    return json_response(segments_service.list_segments(utcnow()))


@bp.get("/segments/<segment_id>")
@requires("viewer")
def get_segment(segment_id: str) -> Response:
    return json_response(segments_service.segment_with_count(segment_id, utcnow()))


@bp.put("/segments/<segment_id>")
@requires("admin")
def put_segment(segment_id: str) -> Response:
    """``{"name", "filter"}`` as JSON or YAML; 201 when created."""
    document = _segment_document()
    data, created = segments_service.put_segment(segment_id, document, utcnow())
    audit_note(segment=segment_id)
    return json_response(data, 201 if created else 200)


@bp.delete("/segments/<segment_id>")
@requires("admin")
def delete_segment(segment_id: str) -> Response:
    """409 naming who uses it while a scenario (or anything registered) does."""
    segments_service.delete_segment(segment_id)
    audit_note(segment=segment_id)
    return json_response({"deleted": segment_id})
