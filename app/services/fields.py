"""Use cases for field definitions (SPEC §8): define, list, archive and restore typed attributes.

Each public function owns its transaction and answers :func:`field_json` dicts, so the edges
never touch the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.errors import BadRequest, NotFound
from app.extensions import db
from app.friends.errors import Invalid
from app.friends.fields import check_definition, defined_fields
from app.models.contacts import FriendField

_KEYS = {"type", "label", "choices", "archived", "position"}


def field_json(field: FriendField) -> dict[str, Any]:
    """``{"name", "type", "label", "choices", "archived", "position"}``."""
    return {"name": field.name, "type": field.type, "label": field.label, "choices": list(field.choices or []),
            "archived": field.archived, "position": field.position}


def put_field(name: str, body: Any, now: datetime) -> tuple[dict[str, Any], bool]:
    """Create or replace a field definition; (its JSON, created). Existing values are never rewritten."""
    with db.transaction() as session:
        field, created = _put_field(session, name, body, now)
        return field_json(field), created


def _put_field(session: Session, name: str, body: Any, now: datetime) -> tuple[FriendField, bool]:
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object", [{"message": 'send {"type": ..., "label": ...}'}])
    unknown = sorted(set(body) - _KEYS - {"name"})
    if unknown:
        raise BadRequest("unknown keys", [{"path": key, "message": "not a field property"} for key in unknown])
    field = session.get(FriendField, name, with_for_update=True)
    type_ = body.get("type", field.type if field else None)
    choices = body.get("choices", list(field.choices or []) if field else [])
    label = body.get("label", field.label if field else None)
    position = body.get("position", field.position if field else 0)
    archived = body.get("archived", field.archived if field else False)
    problems = check_definition(name, str(type_), choices if isinstance(choices, list) else [])
    if not isinstance(choices, list):
        problems.append({"path": "choices", "message": "expected a list of texts"})
    if label is not None and not isinstance(label, str):
        problems.append({"path": "label", "message": "expected text"})
    if isinstance(position, bool) or not isinstance(position, int) or not -10**6 <= position <= 10**6:
        problems.append({"path": "position", "message": "expected an integer"})
    if not isinstance(archived, bool):
        problems.append({"path": "archived", "message": "expected true or false"})
    if problems:
        raise Invalid("field definition is invalid", problems)  # type: ignore[arg-type]
    created = field is None
    if field is None:
        field = FriendField(name=name, created_at=now)
        session.add(field)
    field.type, field.label, field.choices = str(type_), label, list(choices) if type_ == "choice" else []
    field.position, field.archived, field.updated_at = position, archived, now
    session.flush()
    return field, created


def set_archived(name: str, archived: bool, now: datetime) -> dict[str, Any]:
    """Archive (hide, refuse writes, keep values) or restore a field; its JSON."""
    with db.transaction() as session:
        if session.get(FriendField, name) is None:
            raise NotFound(f"field {name!r} does not exist")
        return field_json(_put_field(session, name, {"archived": archived}, now)[0])


def list_fields(include_archived: bool = False) -> list[dict[str, Any]]:
    """Field JSON in display order (position, then name); archived ones only when asked."""
    with db.read() as session:
        return [field_json(f) for f in defined_fields(session, include_archived)]
