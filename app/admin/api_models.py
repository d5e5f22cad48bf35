"""Pydantic models of admin API bodies: validated at the edge (a 400 naming the field, never a
500 from a number where a text belongs) and published in ``/admin/api/openapi.json``."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import BadRequest

M = TypeVar("M", bound=BaseModel)
UserId = Annotated[str, Field(min_length=1, max_length=64)]
Name = Annotated[str, Field(min_length=1, max_length=64)]


class RequestBody(BaseModel):
    """Strict JSON: no coercion of 5 into "5", unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class NamedEventRequest(RequestBody):
    user_id: UserId
    name: Name
    channel: Name | None = None
    at: Annotated[str, Field(max_length=64)] | None = None  # ISO 8601; the view parses it


class TestSendRequest(RequestBody):
    user_ids: Annotated[list[UserId], Field(max_length=500)]
    step: Name | None = None


class UserIdsRequest(RequestBody):
    user_ids: Annotated[list[UserId], Field(max_length=10_000)]


def json_object() -> dict[str, Any]:
    """The request's JSON body, which must be an object (:class:`BadRequest` otherwise)."""
    payload: Any = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise BadRequest("expected a JSON object body", [{"path": "", "message": "expected an object"}])
    return payload


def json_body(model: type[M]) -> M:
    """The request's JSON body as ``model``; :class:`BadRequest` listing each field's problem."""
    payload = json_object()
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        details: list[dict[str, object]] = [
            {"path": ".".join(str(p) for p in err["loc"]), "message": err["msg"]} for err in exc.errors()[:20]]
        raise BadRequest(f"invalid {model.__name__} body", details) from None
