"""A friend-add route's definition (SPEC §10): a name and what happens to who comes through it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, ValidationError

from app.scenarios.fields import StrictModel, keyed_union
from app.scenarios.rule_defs import ScenarioId

ROUTE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
RESERVED_IDS = frozenset({"callback"})  # /r/callback is LINE Login's redirect


class RouteTag(StrictModel):
    tag: Annotated[str, Field(min_length=1, max_length=100)]


class RouteEnroll(StrictModel):
    enroll: ScenarioId


class RouteSet(StrictModel):
    set_: Annotated[dict[str, Any], Field(alias="set", min_length=1)]


if TYPE_CHECKING:
    RouteAction = RouteTag | RouteEnroll | RouteSet
else:
    RouteAction = keyed_union("expected one of: {tag: T}, {enroll: SCENARIO}, {set: {attribute: value}}",
                              ("tag", RouteTag), ("enroll", RouteEnroll), ("set", RouteSet))


class RouteDef(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    channel: Annotated[str, Field(min_length=1, max_length=64)] = "default"
    actions: Annotated[list[RouteAction], Field(max_length=20)] = Field(default_factory=list)


def valid_route_id(route_id: str) -> bool:
    return bool(ROUTE_ID.fullmatch(route_id)) and route_id not in RESERVED_IDS


def parse_route(body: Any) -> tuple[RouteDef | None, list[dict[str, str]]]:
    """The route, or the problems as ``[{"path", "message"}]``."""
    if not isinstance(body, dict):
        return None, [{"path": "", "message": "expected a JSON object {name, actions}"}]
    try:
        return RouteDef.model_validate(body), []
    except ValidationError as exc:
        return None, [{"path": ".".join(str(p) for p in err["loc"] if not str(p).startswith("~")),
                       "message": err["msg"]} for err in exc.errors()]


def actions_json(route: RouteDef) -> list[dict[str, Any]]:
    """Actions as stored and shown: ``[{"tag": ..}, {"enroll": ..}, {"set": {..}}]``."""
    return [action.model_dump(mode="json", by_alias=True) for action in route.actions]
