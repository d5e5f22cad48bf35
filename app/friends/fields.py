"""Typed attributes: a value written to a defined field is checked and coerced to its type.

Dates are stored as ``YYYY-MM-DD`` and date-times as UTC ``YYYY-MM-DDTHH:MM:SS+00:00`` text, so
the filter language compares them as dates; numbers as JSON numbers, booleans as JSON booleans.
The stored definitions are read in the caller's session (contacts, import and export share them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.friends.evaluate import iso_text
from app.models.contacts import FIELD_TYPES, FriendField

FIELD_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}")
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


class FieldValueError(ValueError):
    """A value that does not fit its field (the message says what was expected)."""


@dataclass(frozen=True)
class FieldSpec:
    """What coercion needs of a field definition."""

    name: str
    type: str
    choices: tuple[str, ...] = ()
    archived: bool = False


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise FieldValueError("expected a number, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            number = float(text)
        except ValueError:
            raise FieldValueError(f"expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise FieldValueError(f"expected a finite number, got {value!r}")
        return int(number) if number.is_integer() and abs(number) < 2**53 and "e" not in text.lower() \
            else number
    raise FieldValueError(f"expected a number, got {value!r}")


def _date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip().replace("/", "-")
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise FieldValueError(f"expected a date YYYY-MM-DD, got {value!r}")


def _datetime(value: Any) -> str:
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
    if moment is None:
        raise FieldValueError(f"expected an ISO 8601 date-time such as 2026-05-01T10:00:00+09:00, got {value!r}")
    return iso_text(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise FieldValueError(f"expected true or false, got {value!r}")


def coerce(spec: FieldSpec, value: Any) -> Any:
    """``value`` as stored for ``spec``; FieldValueError when it does not fit (or the field is archived)."""
    if spec.archived:
        raise FieldValueError("the field is archived: restore it before writing to it")
    if spec.type == "number":
        return _number(value)
    if spec.type == "date":
        return _date(value)
    if spec.type == "datetime":
        return _datetime(value)
    if spec.type == "bool":
        return _bool(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldValueError(f"expected text, got {value!r}")
    text = str(value)
    if spec.type == "choice" and text not in spec.choices:
        raise FieldValueError(f"expected one of: {', '.join(spec.choices)}; got {text!r}")
    return text


def coerce_untyped(value: Any) -> Any:
    """An attribute without a field keeps working as before: any JSON value, stored as given."""
    return value


def coerce_all(specs: Mapping[str, FieldSpec], changes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Coerce every change (None = remove); returns (coerced changes, {attribute: error message})."""
    coerced: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, value in changes.items():
        spec = specs.get(name)
        if value is None:
            if spec is not None and spec.archived:
                errors[name] = "the field is archived: restore it before writing to it"
            else:
                coerced[name] = None
            continue
        if spec is None:
            coerced[name] = coerce_untyped(value)
            continue
        try:
            coerced[name] = coerce(spec, value)
        except FieldValueError as exc:
            errors[name] = str(exc)
    return coerced, errors


def check_definition(name: str, type_: str, choices: list[str]) -> list[dict[str, str]]:
    """Problems with a field definition, as API error details."""
    problems = []
    if not FIELD_NAME.fullmatch(name):
        problems.append({"path": "name", "message": f"expected a name matching {FIELD_NAME.pattern}"})
    if type_ not in FIELD_TYPES:
        problems.append({"path": "type", "message": f"expected one of: {', '.join(FIELD_TYPES)}"})
    if type_ == "choice" and (not choices or not all(isinstance(c, str) and c for c in choices)):
        problems.append({"path": "choices", "message": "a choice field needs a non-empty list of texts"})
    return problems


# --- stored definitions, read in the caller's session ------------------------------------------------
def defined_fields(session: Session, include_archived: bool = False) -> list[FriendField]:
    """Fields in display order (position, then name); archived ones only when asked."""
    query = sa.select(FriendField).order_by(FriendField.position, FriendField.name)
    if not include_archived:
        query = query.where(FriendField.archived.is_(False))
    return list(session.scalars(query))


def field_specs(session: Session) -> dict[str, FieldSpec]:
    """Every field (archived too) as coercion specs, by name."""
    return {f.name: FieldSpec(f.name, f.type, tuple(f.choices or ()), f.archived)
            for f in session.scalars(sa.select(FriendField))}


def hidden_attributes(session: Session) -> set[str]:
    """Names of archived fields: their values are kept but not shown."""
    return set(session.scalars(sa.select(FriendField.name).where(FriendField.archived.is_(True))))
