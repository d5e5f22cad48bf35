"""Audience filters: an AND/OR/NOT tree over friend attributes, tags and segments, and its evaluation."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, GetJsonSchemaHandler, ValidationError, model_serializer, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import InitErrorDetails, core_schema

from app.scenarios.durations import parse_duration
from app.scenarios.fields import StrictModel, fail, keyed_union

Operator = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "exists", "contains", "within", "before"]
OPERATORS: tuple[str, ...] = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "exists", "contains", "within", "before")
# the friend's own columns a ``{field: ...}`` condition may name, and the operators each takes
TIME_FIELDS = ("followed_at", "last_message_at")
TEXT_FIELDS = ("display_name", "route", "status")
FRIEND_FIELDS: dict[str, tuple[str, ...]] = {
    **{name: ("eq", "ne", "gt", "gte", "lt", "lte", "exists", "within", "before") for name in TIME_FIELDS},
    **{name: ("eq", "ne", "in", "contains", "gt", "gte", "lt", "lte", "exists") for name in TEXT_FIELDS},
    "opted_out": ("eq", "ne", "exists"),
}


def _scalar(value: Any, op: str) -> Any:
    """A comparable filter value: dates as ISO text (so they compare as dates), never a list or null."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | int | float | str) and not (isinstance(value, float) and not math.isfinite(value)):
        return value
    raise fail(f"expected a text, number, boolean or date after {op}:, got {value!r}")


def _operand(op: str, value: Any) -> Any:
    """Check and normalise the value next to ``op`` (shared by attribute and field conditions)."""
    if op == "in":
        if not isinstance(value, list):
            raise fail("expected a list after in:")
        return [_scalar(v, op) for v in value]
    if op == "exists":
        if not isinstance(value, bool):
            raise fail("expected true or false after exists:")
        return value
    if op in ("within", "before"):
        try:
            parse_duration(value)
        except ValueError as exc:
            raise fail(str(exc)) from None
        return value
    return _scalar(value, op)


def _split(data: dict[str, Any], key: str, allowed: tuple[str, ...], cls: str) -> tuple[str, Any]:
    unknown = [k for k in data if k != key and k not in OPERATORS]
    if unknown:
        raise ValidationError.from_exception_data(cls, [
            InitErrorDetails(type="extra_forbidden", loc=(k,), input=data[k]) for k in unknown])
    ops = [k for k in data if k in OPERATORS]
    if len(ops) != 1:
        raise fail(f"expected exactly one operator next to {key}: {', '.join(allowed)}")
    if ops[0] not in allowed:
        raise fail(f"operator {ops[0]} does not apply to {key} {data.get(key)!r}: expected one of "
                   + ", ".join(allowed))
    return ops[0], _operand(ops[0], data[ops[0]])


def _op_schema(key: str, title: str, names: dict[str, Any]) -> JsonSchemaValue:
    props: dict[str, Any] = {key: names, **{op: {} for op in OPERATORS}}
    props["in"] = {"type": "array"}
    props["exists"] = {"type": "boolean"}
    props["within"] = props["before"] = {"type": "string"}
    return {"type": "object", "title": title, "required": [key], "properties": props,
            "additionalProperties": False, "minProperties": 2, "maxProperties": 2}


class AttributeFilter(StrictModel):
    """``{attribute: name, <op>: value}``; held as (attribute, op, value), written back in the same shape."""

    document_fields: ClassVar[tuple[str, ...]] = ("attribute", *OPERATORS)

    attribute: str
    op: Operator
    value: Any = None

    @model_validator(mode="before")
    @classmethod
    def _from_document(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "op" in data:
            return data
        name = data.get("attribute")
        if not isinstance(name, str) or not name or any(ch in name for ch in '"\\'):
            raise fail(f"expected an attribute name (no quotes or backslashes), got {name!r}")
        op, value = _split(data, "attribute", OPERATORS, cls.__name__)
        return {"attribute": name, "op": op, "value": value}

    @model_serializer
    def _to_document(self) -> dict[str, Any]:
        return {"attribute": self.attribute, self.op: self.value}

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
                                     ) -> JsonSchemaValue:
        return _op_schema("attribute", "AttributeFilter", {"type": "string"})


class FieldFilter(StrictModel):
    """``{field: followed_at | last_message_at | status | opted_out | display_name | route, <op>: value}``."""

    document_fields: ClassVar[tuple[str, ...]] = ("field", *OPERATORS)

    field: str
    op: Operator
    value: Any = None

    @model_validator(mode="before")
    @classmethod
    def _from_document(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "op" in data:
            return data
        name = data.get("field")
        if name not in FRIEND_FIELDS:
            raise fail(f"unknown field {name!r}: expected one of {', '.join(FRIEND_FIELDS)}")
        op, value = _split(data, "field", FRIEND_FIELDS[name], cls.__name__)
        values = value if op == "in" else [value]
        if name in TIME_FIELDS and op not in ("exists", "within", "before"):
            for item in values:
                if parse_instant(item) is None:
                    raise fail(f"expected a date or ISO 8601 date-time after {op}:, got {item!r}")
        elif name == "opted_out" and op != "exists" and not isinstance(value, bool):
            raise fail(f"expected true or false after {op}:")
        elif name in TEXT_FIELDS and op != "exists" and not all(isinstance(v, str) for v in values):
            raise fail(f"expected text after {op}: for field {name}")
        return {"field": name, "op": op, "value": value}

    @model_serializer
    def _to_document(self) -> dict[str, Any]:
        return {"field": self.field, self.op: self.value}

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
                                     ) -> JsonSchemaValue:
        return _op_schema("field", "FieldFilter", {"enum": list(FRIEND_FIELDS)})


def parse_instant(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO text (a bare date is its midnight UTC); None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


class TagFilter(StrictModel):
    tag: str


class SegmentFilter(StrictModel):
    segment: str


class AllFilter(StrictModel):
    all: Annotated[list[FilterNode], Field(min_length=1)]


class AnyFilter(StrictModel):
    any: Annotated[list[FilterNode], Field(min_length=1)]


class NotFilter(StrictModel):
    not_: FilterNode = Field(alias="not")


if TYPE_CHECKING:
    FilterNode = AllFilter | AnyFilter | NotFilter | AttributeFilter | FieldFilter | TagFilter | SegmentFilter
else:
    FilterNode = keyed_union(
        "expected a filter with one of: all, any, not, attribute, field, tag, segment",
        ("all", AllFilter), ("any", AnyFilter), ("not", NotFilter),
        ("attribute", AttributeFilter), ("field", FieldFilter), ("tag", TagFilter), ("segment", SegmentFilter),
    )
for _model in (AllFilter, AnyFilter, NotFilter):
    _model.model_rebuild()


def children(node: FilterNode) -> list[FilterNode]:
    """The direct sub-filters of ``node`` (none for a leaf)."""
    if isinstance(node, AllFilter):
        return list(node.all)
    if isinstance(node, AnyFilter):
        return list(node.any)
    if isinstance(node, NotFilter):
        return [node.not_]
    return []


def segments_named(node: FilterNode | None) -> set[str]:
    """Every segment id the tree names directly (not through the segments it names)."""
    if node is None:
        return set()
    if isinstance(node, SegmentFilter):
        return {node.segment}
    return set().union(*(segments_named(child) for child in children(node)))


def uses_tags(node: FilterNode | None) -> bool:
    """Whether the tree names a tag directly."""
    if node is None:
        return False
    return isinstance(node, TagFilter) or any(uses_tags(child) for child in children(node))
