from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from app.friends.evaluate import matches
from app.scenarios.filters import FilterNode

NODE: TypeAdapter[Any] = TypeAdapter(FilterNode)
SPEC_FILTER = {"all": [{"attribute": "member", "eq": True},
                       {"any": [{"tag": "vip"}, {"attribute": "sessionCount", "gte": 3}]}]}


def check(tree: dict[str, Any], attributes: dict[str, Any], tags: set[str] | None = None) -> bool:
    return matches(NODE.validate_python(tree), attributes, tags or set())


def test_no_filter_matches_everyone() -> None:
    assert matches(None, {}, set())


@pytest.mark.parametrize(
    ("attributes", "tags", "expected"),
    [({"member": True, "sessionCount": 1}, {"vip"}, True),
     ({"member": True, "sessionCount": 3}, set(), True),
     ({"member": True, "sessionCount": "5"}, set(), True),  # numbers stored as text still compare
     ({"member": True, "sessionCount": 2}, set(), False),
     ({"member": False, "sessionCount": 9}, {"vip"}, False),
     ({"sessionCount": 9}, {"vip"}, False)],
)
def test_spec_filter(attributes: dict[str, Any], tags: set[str], expected: bool) -> None:
    assert check(SPEC_FILTER, attributes, tags) is expected


def test_not_in_exists_contains_and_ne() -> None:
    assert check({"not": {"tag": "blocked-once"}}, {}, set())
    assert check({"attribute": "plan", "in": ["gold", "silver"]}, {"plan": "gold"})
    assert not check({"attribute": "plan", "in": ["gold"]}, {})
    assert check({"attribute": "email", "exists": True}, {"email": "a@b"})
    assert check({"attribute": "email", "exists": False}, {"email": None})
    assert check({"attribute": "interests", "contains": "coffee"}, {"interests": ["tea", "coffee"]})
    assert check({"attribute": "note", "contains": "vip"}, {"note": "a vip friend"})
    assert check({"attribute": "plan", "ne": "free"}, {})
    assert not check({"attribute": "plan", "ne": "free"}, {"plan": "free"})


def test_comparisons_on_dates_as_text_and_uncomparable_values() -> None:
    assert check({"attribute": "joined", "lt": "2026-01-01"}, {"joined": "2025-12-31"})
    assert not check({"attribute": "joined", "gt": 3}, {"joined": "soon"})
    assert not check({"attribute": "flag", "eq": 1}, {"flag": True})  # booleans equal only booleans


def test_segments_are_passed_explicitly() -> None:
    node = NODE.validate_python({"segment": "heavy-users"})
    assert matches(node, {}, set(), segments={"heavy-users"})
    assert not matches(node, {}, set())


def test_filter_round_trips_to_document_shape() -> None:
    node = NODE.validate_python(SPEC_FILTER)
    assert NODE.dump_python(node, mode="json", by_alias=True) == SPEC_FILTER
