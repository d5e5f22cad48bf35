"""Building blocks shared by the scenario models: strict base model, durations, clock times,
key-tagged unions (so errors say which shapes were expected instead of listing every member)."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, PlainSerializer, PlainValidator, Tag, WithJsonSchema
from pydantic_core import PydanticCustomError

from app.scenarios.durations import EXPECTED as DURATION_EXPECTED
from app.scenarios.durations import format_duration, parse_duration

ERROR_TYPE = "stepline"
ID_PATTERN = re.compile(r"[a-z0-9-]+")
STEP_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")

# union tag -> member type; lets the loader name the fields a model accepts
TAGS: dict[str, Any] = {}
# a keyed union's error message -> the keys that choose its members (the loader's "did you mean")
UNION_KEYS: dict[str, list[str]] = {}


class StrictModel(BaseModel):
    """Unknown fields are errors; ``from``/``not``/``in``/``set`` are exposed as ``from_`` etc."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True,
                              coerce_numbers_to_str=True)


def fail(message: str, **ctx: Any) -> PydanticCustomError:
    """A validation error whose message is shown to admins as-is."""
    return PydanticCustomError(ERROR_TYPE, message, ctx or None)


def check_pattern(value: str, pattern: re.Pattern[str], what: str) -> str:
    """Raise a readable error when ``value`` does not fully match ``pattern``."""
    if not pattern.fullmatch(value):
        raise fail(f"expected {what} matching {pattern.pattern}, got {value!r}")
    return value


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    m = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise fail(f'expected a local time "HH:MM" (00:00-23:59), got {value!r}')
    return time(int(m.group(1)), int(m.group(2)))


Duration = Annotated[
    timedelta,
    PlainValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$", "description": DURATION_EXPECTED}),
]
ClockTime = Annotated[
    time,
    PlainValidator(_clock),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^([01]?\d|2[0-3]):[0-5]\d$"}),
]


def keyed_union(expected: str, *members: tuple[str, Any]) -> Any:
    """A union chosen by which key a mapping has (``{after: ..}`` vs ``{wait: ..}``).

    Members are ``(key, type)``; key ``"*str"`` matches any string input. Tags start with "~" so
    the loader can drop them from error paths.
    """
    for key, tp in members:
        TAGS[f"~{key}"] = tp
    UNION_KEYS[expected] = [key for key, _ in members if key != "*str"]

    def pick(value: Any) -> str | None:
        for key, tp in members:
            if key == "*str":
                if isinstance(value, str):
                    return "~*str"
            elif isinstance(value, dict):
                if key in value:
                    return f"~{key}"
            elif isinstance(tp, type) and isinstance(value, tp):
                return f"~{key}"
        return None

    tagged = tuple(Annotated[tp, Tag(f"~{key}")] for key, tp in members)
    return Annotated[Union[tagged], Discriminator(pick, custom_error_type=ERROR_TYPE,  # noqa: UP007
                                                  custom_error_message=expected)]
