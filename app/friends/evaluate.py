"""The filter language evaluated for one friend in Python (SPEC §8).

:mod:`app.friends.sql` compiles the same tree to SQL; the two must agree on every friend and
every tree (a property test checks it on both databases), so each rule here has its SQL twin:

- an attribute is present when it is set and not null;
- ``eq``: booleans equal only booleans; a number equals a JSON number or a numeric text
  (``-?[0-9]+(.[0-9]+)?``) of that value; a text equals the same text, or (if it is itself
  numeric) a JSON number of that value;
- ``gt/gte/lt/lte``: numbers (and numeric texts) numerically, other texts by code point (so ISO
  dates compare as dates); anything else never matches;
- ``contains``: a substring of a text, or an element (by ``eq``) of a list;
- ``within: D`` / ``before: D``: a date or date-time text no older than ``now - D`` (and not in
  the future) / older than ``now - D``, compared as UTC ISO text;
- ``ne`` is ``not eq``, true when the attribute is absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.models.base import utcnow
from app.scenarios.durations import parse_duration
from app.scenarios.filters import (
    TIME_FIELDS,
    AllFilter,
    AnyFilter,
    AttributeFilter,
    FieldFilter,
    FilterNode,
    NotFilter,
    SegmentFilter,
    TagFilter,
    parse_instant,
)

NUMERIC_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
DATE_PREFIX = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_SEGMENT_DEPTH = 16  # segments naming segments: deeper (or a cycle) matches nobody


@dataclass(frozen=True)
class FriendFacts:
    """What a filter can look at: the friend's attributes, tags and own columns."""

    attributes: Mapping[str, Any]
    tags: AbstractSet[str] = frozenset()
    followed_at: datetime | None = None
    last_message_at: datetime | None = None
    status: str = "active"
    opted_out: bool = False
    display_name: str | None = None
    route: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


# (segment id, friend) -> member?
SegmentTest = Callable[[str, FriendFacts], bool]


def no_segments(_name: str, _friend: FriendFacts) -> bool:
    return False


def segment_test(definitions: Mapping[str, FilterNode], now: datetime, depth: int = 0) -> SegmentTest:
    """Membership by evaluating each segment's own filter (an unknown segment: nobody)."""

    def member(name: str, friend: FriendFacts) -> bool:
        node = definitions.get(name)
        if node is None or depth >= MAX_SEGMENT_DEPTH:
            return False
        return evaluate(node, friend, now=now, segment=segment_test(definitions, now, depth + 1))

    return member


def number_of(value: Any) -> float | None:
    """A JSON number or a numeric text as a float; None otherwise (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and NUMERIC_TEXT.fullmatch(value):
        return float(value)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def equal(actual: Any, expected: Any) -> bool:
    """``eq`` of one present value (see the module docstring)."""
    if isinstance(expected, bool):
        return isinstance(actual, bool) and actual == expected
    if _is_number(expected):
        found = number_of(actual)
        return found is not None and found == float(expected)
    if isinstance(expected, str):
        if isinstance(actual, str):
            return actual == expected
        return _is_number(actual) and NUMERIC_TEXT.fullmatch(expected) is not None and \
            float(actual) == float(expected)
    return False


def _order(op: str, left: Any, right: Any) -> bool:
    if op == "gt":
        return bool(left > right)
    if op == "gte":
        return bool(left >= right)
    if op == "lt":
        return bool(left < right)
    return bool(left <= right)


def compare(op: str, actual: Any, expected: Any) -> bool:
    """``gt/gte/lt/lte`` of one present value."""
    if isinstance(expected, bool):
        return False
    if _is_number(expected) or (isinstance(expected, str) and NUMERIC_TEXT.fullmatch(expected)):
        found = number_of(actual)
        if found is not None:
            return _order(op, found, float(expected))
        if _is_number(expected):
            return False
    return isinstance(actual, str) and isinstance(expected, str) and _order(op, actual, expected)


def needle(value: Any) -> str:
    """The text ``contains`` looks for inside a text attribute."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def iso_text(moment: datetime) -> str:
    """How date-times are written in attributes (and compared as text): UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _time_window(op: str, text: str, now: datetime, duration: str) -> bool:
    cutoff = iso_text(now - parse_duration(duration))
    if op == "within":
        return cutoff <= text <= iso_text(now)
    return text < cutoff


def attribute_matches(op: str, value: Any, actual: Any, now: datetime) -> bool:
    """One ``{attribute: .., op: value}`` against the attribute's stored value (None: absent)."""
    present = actual is not None
    if op == "exists":
        return present is bool(value)
    if op == "ne":
        return not (present and equal(actual, value))
    if not present:
        return False
    if op == "eq":
        return equal(actual, value)
    if op == "in":
        return any(equal(actual, v) for v in value)
    if op == "contains":
        if isinstance(actual, str):
            return needle(value) in actual
        return isinstance(actual, list) and any(item is not None and equal(item, value) for item in actual)
    if op in ("within", "before"):
        return isinstance(actual, str) and DATE_PREFIX.match(actual) is not None and \
            _time_window(op, actual, now, value)
    return compare(op, actual, value)


def field_matches(node: FieldFilter, friend: FriendFacts, now: datetime) -> bool:
    """One ``{field: ...}`` condition on the friend's own columns."""
    actual = getattr(friend, node.field, None)
    op, value = node.op, node.value
    if op == "exists":
        return (actual is not None) is bool(value)
    if node.field in TIME_FIELDS:
        if actual is None:
            return op == "ne"
        if op in ("within", "before"):
            cutoff = now - parse_duration(value)
            return cutoff <= actual <= now if op == "within" else actual < cutoff
        moment = parse_instant(value)
        return actual != moment if op == "ne" else (actual == moment if op == "eq" else _order(op, actual, moment))
    if node.field == "opted_out":
        return (actual == value) if op == "eq" else (actual != value)
    if actual is None:
        return op == "ne"
    if op == "eq":
        return bool(actual == value)
    if op == "ne":
        return bool(actual != value)
    if op == "in":
        return actual in value
    if op == "contains":
        return str(value) in actual
    return _order(op, actual, value)


def evaluate(node: FilterNode | None, friend: FriendFacts, *, now: datetime,
             segment: SegmentTest = no_segments) -> bool:
    """Whether ``friend`` passes the filter tree at ``now`` (no tree: everyone does)."""
    if node is None:
        return True
    if isinstance(node, AllFilter):
        return all(evaluate(child, friend, now=now, segment=segment) for child in node.all)
    if isinstance(node, AnyFilter):
        return any(evaluate(child, friend, now=now, segment=segment) for child in node.any)
    if isinstance(node, NotFilter):
        return not evaluate(node.not_, friend, now=now, segment=segment)
    if isinstance(node, TagFilter):
        return node.tag in friend.tags
    if isinstance(node, SegmentFilter):
        return segment(node.segment, friend)
    if isinstance(node, FieldFilter):
        return field_matches(node, friend, now)
    assert isinstance(node, AttributeFilter)
    return attribute_matches(node.op, node.value, friend.attributes.get(node.attribute), now)


def matches(filter_tree: FilterNode | None, attributes: Mapping[str, Any], tags: set[str], *,
            segments: set[str] | None = None) -> bool:
    """Whether a friend with these attributes/tags (member of ``segments``) passes the filter.

    A shortcut over :func:`evaluate` for callers that know only attributes and tags (the
    friend's own columns count as unknown)."""
    member = segments or set()
    return evaluate(filter_tree, FriendFacts(attributes=attributes, tags=tags), now=utcnow(),
                    segment=lambda name, _friend: name in member)
