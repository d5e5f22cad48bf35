"""Audience filters: an AND/OR/NOT tree over friend attributes, tags and segments, and its evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, GetJsonSchemaHandler, ValidationError, model_serializer, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import InitErrorDetails, core_schema

from app.scenarios.fields import StrictModel, fail, keyed_union

Operator = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "exists", "contains"]
OPERATORS: tuple[str, ...] = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "exists", "contains")


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
        unknown = [k for k in data if k != "attribute" and k not in OPERATORS]
        if unknown:
            raise ValidationError.from_exception_data(cls.__name__, [
                InitErrorDetails(type="extra_forbidden", loc=(k,), input=data[k]) for k in unknown])
        ops = [k for k in data if k in OPERATORS]
        if len(ops) != 1:
            raise fail(f"expected exactly one operator next to attribute: {', '.join(OPERATORS)}")
        op = ops[0]
        value = data[op]
        if op == "in" and not isinstance(value, list):
            raise fail("expected a list after in:")
        if op == "exists" and not isinstance(value, bool):
            raise fail("expected true or false after exists:")
        return {"attribute": data.get("attribute"), "op": op, "value": value}

    @model_serializer
    def _to_document(self) -> dict[str, Any]:
        return {"attribute": self.attribute, self.op: self.value}

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
                                     ) -> JsonSchemaValue:
        props: dict[str, Any] = {"attribute": {"type": "string"}, **{op: {} for op in OPERATORS}}
        props["in"] = {"type": "array"}
        props["exists"] = {"type": "boolean"}
        return {"type": "object", "title": "AttributeFilter", "required": ["attribute"], "properties": props,
                "additionalProperties": False, "minProperties": 2, "maxProperties": 2}


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
    FilterNode = AllFilter | AnyFilter | NotFilter | AttributeFilter | TagFilter | SegmentFilter
else:
    FilterNode = keyed_union(
        "expected a filter with one of: all, any, not, attribute, tag, segment",
        ("all", AllFilter), ("any", AnyFilter), ("not", NotFilter),
        ("attribute", AttributeFilter), ("tag", TagFilter), ("segment", SegmentFilter),
    )
for _model in (AllFilter, AnyFilter, NotFilter):
    _model.model_rebuild()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equal(a: Any, b: Any) -> bool:
    """Equality tolerant of attributes stored as text ("3" == 3); booleans only equal booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None and not (isinstance(a, str) and isinstance(b, str)):
        return na == nb
    return bool(a == b)


def _compare(a: Any, b: Any) -> int | None:
    """-1/0/1, numbers numerically, text (e.g. ISO dates) lexically; None when not comparable."""
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return (na > nb) - (na < nb)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    return None


def _attribute(node: AttributeFilter, attributes: Mapping[str, Any]) -> bool:
    present = attributes.get(node.attribute) is not None
    actual = attributes.get(node.attribute)
    if node.op == "exists":
        return present is bool(node.value)
    if node.op == "ne":
        return not (present and _equal(actual, node.value))
    if not present:
        return False
    if node.op == "eq":
        return _equal(actual, node.value)
    if node.op == "in":
        return any(_equal(actual, v) for v in node.value)
    if node.op == "contains":
        if isinstance(actual, str):
            return str(node.value) in actual
        return isinstance(actual, list | tuple | set) and any(_equal(v, node.value) for v in actual)
    order = _compare(actual, node.value)
    if order is None:
        return False
    return {"gt": order > 0, "gte": order >= 0, "lt": order < 0, "lte": order <= 0}[node.op]


def matches(filter_tree: FilterNode | None, attributes: Mapping[str, Any], tags: set[str], *,
            segments: set[str] | None = None) -> bool:
    """Whether a friend with these attributes/tags (and segment memberships) passes the filter."""
    if filter_tree is None:
        return True
    node = filter_tree
    if isinstance(node, AllFilter):
        return all(matches(n, attributes, tags, segments=segments) for n in node.all)
    if isinstance(node, AnyFilter):
        return any(matches(n, attributes, tags, segments=segments) for n in node.any)
    if isinstance(node, NotFilter):
        return not matches(node.not_, attributes, tags, segments=segments)
    if isinstance(node, TagFilter):
        return node.tag in tags
    if isinstance(node, SegmentFilter):
        return node.segment in (segments or set())
    return _attribute(node, attributes)
