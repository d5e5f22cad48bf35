"""Admin HTTP API for fields and segments (SPEC §8)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from app.admin.api_errors import error_response
from app.admin.api_friends import json_body, json_response
from app.admin.auth import audit_note, requires
from app.errors import BadRequest
from app.extensions import db
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
    with db.transaction() as session:
        return json_response([fields_service.field_json(f) for f in fields_service.list_fields(session, include)])


@bp.put("/fields/<name>")
@requires("admin")
def put_field(name: str) -> Response:
    """``{"type", "label", "choices", "archived", "position"}``; 201 when created."""
    body = json_body()
    with db.transaction() as session:
        field, created = fields_service.put_field(session, name, body, utcnow())
        data = fields_service.field_json(field)
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
    with db.transaction() as session:
        return json_response(segments_service.list_segments(session, utcnow()))


@bp.get("/segments/<segment_id>")
@requires("viewer")
def get_segment(segment_id: str) -> Response:
    with db.transaction() as session:
        segment = segments_service.get_segment(session, segment_id)
        count = segments_service.count_matching(session, segments_service.parse_filter(segment.filter), utcnow())
        return json_response(segments_service.segment_json(segment, count))


@bp.put("/segments/<segment_id>")
@requires("admin")
def put_segment(segment_id: str) -> Response:
    """``{"name", "filter"}`` as JSON or YAML; 201 when created."""
    document = _segment_document()
    with db.transaction() as session:
        segment, created = segments_service.put_segment(session, segment_id, document, utcnow())
        data = segments_service.segment_json(segment, segments_service.count_matching(
            session, segments_service.parse_filter(segment.filter), utcnow()))
    audit_note(segment=segment_id)
    return json_response(data, 201 if created else 200)


@bp.delete("/segments/<segment_id>")
@requires("admin")
def delete_segment(segment_id: str) -> Response:
    """409 naming who uses it while a scenario (or anything registered) does."""
    with db.transaction() as session:
        segments_service.delete_segment(session, segment_id)
    audit_note(segment=segment_id)
    return json_response({"deleted": segment_id})
