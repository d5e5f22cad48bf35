"""SPEC §8 fields: a value written to a defined field is coerced to its type, or refused."""

from __future__ import annotations

from typing import Any

import pytest

from app.friends.fields import FieldSpec, FieldValueError, coerce, coerce_all


@pytest.mark.parametrize(("type_", "given", "stored"), [
    ("number", "42", 42), ("number", "1,200", 1200), ("number", "3.5", 3.5), ("number", 7, 7),
    ("date", "2026/01/31", "2026-01-31"), ("date", "2026-01-31", "2026-01-31"),
    ("datetime", "2026-05-01T10:00:00+09:00", "2026-05-01T01:00:00+00:00"),
    ("datetime", "2026-05-01T10:00:00", "2026-05-01T10:00:00+00:00"),
    ("bool", "yes", True), ("bool", "0", False), ("bool", True, True),
    ("text", 12, "12"), ("choice", "gold", "gold"),
])
def test_values_are_coerced_to_the_field_type(type_: str, given: Any, stored: Any) -> None:
    assert coerce(FieldSpec("f", type_, ("gold", "free")), given) == stored


@pytest.mark.parametrize(("type_", "given"), [
    ("number", "old"), ("number", True), ("number", "nan"), ("date", "31/01/2026"), ("datetime", "soon"),
    ("bool", "maybe"), ("choice", "silver"), ("text", [1]),
])
def test_wrong_values_are_refused(type_: str, given: Any) -> None:
    with pytest.raises(FieldValueError):
        coerce(FieldSpec("f", type_, ("gold", "free")), given)


def test_archived_field_refuses_writes_and_removal() -> None:
    specs = {"plan": FieldSpec("plan", "text", archived=True)}
    coerced, errors = coerce_all(specs, {"plan": "x", "free": [1, 2]})
    assert coerced == {"free": [1, 2]} and set(errors) == {"plan"}
    assert set(coerce_all(specs, {"plan": None})[1]) == {"plan"}


def test_attribute_without_a_field_keeps_its_value() -> None:
    assert coerce_all({}, {"anything": {"nested": True}}) == ({"anything": {"nested": True}}, {})
