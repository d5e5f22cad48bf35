"""The shape of a signed webhook body, checked at the edge before anything is stored (SPEC §12).

LINE's signature proves who sent a body, not that its fields have the types the ledger needs: a
timestamp of 10^20, NaN, a list as ``source.userId`` or a thousand nested arrays must answer 400
(nothing stored), never a 500 that makes LINE redeliver the same body forever.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

MAX_NESTING = 64
# the ledger keeps the timestamp as a datetime: milliseconds from 1970 up to the end of year 9999
MAX_TIMESTAMP_MS = 253_402_300_799_999
ID_MAX_CHARS = 64  # webhookEventId, userId (ledger columns)
SHORT_MAX_CHARS = 16  # source.type, mode
TYPE_MAX_CHARS = 32

# optional event fields and the JSON type each must have when present
_OBJECT_FIELDS = ("source", "deliveryContext", "message", "postback", "follow", "unsend", "joined", "left",
                  "beacon", "link", "things", "videoPlayComplete", "membership")
_STRING_FIELDS = ("replyToken",)


# NUL and unpaired surrogates decode from JSON escapes but no database's JSON column stores them
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class MalformedWebhook(ValueError):
    """The body is not JSON in the shape of a LINE webhook."""


def parse_body(body: bytes) -> list[Mapping[str, Any]]:
    """The events of a signed body, every field the ledger reads checked for type and range."""
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedWebhook(f"nesting deeper than {MAX_NESTING}") from None
    except ValueError as exc:  # JSONDecodeError and undecodable bytes
        raise MalformedWebhook(f"invalid JSON: {exc}") from None
    if not _plainly_storable(body):
        check_storable(payload, MAX_NESTING)
    return parse_events(payload)


# UTF-8 of U+D800..U+DFFF: json.loads decodes bytes with "surrogatepass", so these arrive as texts
_ENCODED_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")


def _plainly_storable(body: bytes) -> bool:
    """True when ``body`` cannot hold what :func:`check_storable` refuses, so the walk over the
    decoded document (several per cent of a webhook's CPU) can be skipped: no ``\\u`` escape (a NUL or a
    lone surrogate only arrives as one, or encoded as above) and fewer brackets in all than the
    nesting limit (nesting can be no deeper than that)."""
    return (b"\\u" not in body and body.count(b"{") + body.count(b"[") <= MAX_NESTING
            and _ENCODED_SURROGATE.search(body) is None)


def _refuse_constant(name: str) -> Any:
    raise MalformedWebhook(f"{name} is not a JSON number")


def check_storable(value: Any, limit: int) -> None:
    """Raise when containers nest deeper than ``limit`` or a text holds what JSON columns refuse
    (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
            texts: Any = item.keys()
        elif isinstance(item, list):
            children, texts = item, ()
        else:
            continue
        if depth > limit:
            raise MalformedWebhook(f"nesting deeper than {limit}")
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif isinstance(child, str) and _UNSTORABLE.search(child):
                raise MalformedWebhook("a text holds a NUL or an unpaired surrogate")
        if any(_UNSTORABLE.search(key) for key in texts):
            raise MalformedWebhook("a key holds a NUL or an unpaired surrogate")


def parse_events(payload: Any) -> list[Mapping[str, Any]]:
    """The ``events`` list of a decoded webhook body, each event checked (see module docstring)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise MalformedWebhook("body must be an object with an 'events' list")
    if "destination" in payload and not isinstance(payload["destination"], str):
        raise MalformedWebhook("destination must be a string")
    events = payload["events"]
    for index, event in enumerate(events):
        _check_event(index, event)
    return events


def _check_event(index: int, event: Any) -> None:
    where = f"events[{index}]"
    if not isinstance(event, dict):
        raise MalformedWebhook(f"{where} is not an object")
    _string(event.get("webhookEventId"), f"{where}.webhookEventId", ID_MAX_CHARS, required=True)
    _string(event.get("type"), f"{where}.type", TYPE_MAX_CHARS, required=True)
    _string(event.get("mode"), f"{where}.mode", SHORT_MAX_CHARS)
    timestamp = event.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise MalformedWebhook(f"{where}.timestamp must be a number of milliseconds")
    if not (math.isfinite(timestamp) and 0 <= timestamp <= MAX_TIMESTAMP_MS):
        raise MalformedWebhook(f"{where}.timestamp is out of range")
    for name in _OBJECT_FIELDS:
        if name in event and not isinstance(event[name], dict):
            raise MalformedWebhook(f"{where}.{name} must be an object")
    for name in _STRING_FIELDS:
        if name in event and not isinstance(event[name], str):
            raise MalformedWebhook(f"{where}.{name} must be a string")
    source = event.get("source") or {}
    _string(source.get("type"), f"{where}.source.type", SHORT_MAX_CHARS)
    for name in ("userId", "groupId", "roomId"):
        _string(source.get(name), f"{where}.source.{name}", ID_MAX_CHARS)
    message = event.get("message") or {}
    _string(message.get("type"), f"{where}.message.type", TYPE_MAX_CHARS)
    if "text" in message:
        _string(message["text"], f"{where}.message.text", None, required=True, non_empty=False)
    postback = event.get("postback") or {}
    if "data" in postback:
        _string(postback["data"], f"{where}.postback.data", None, required=True, non_empty=False)
    context = event.get("deliveryContext") or {}
    if "isRedelivery" in context and not isinstance(context["isRedelivery"], bool):
        raise MalformedWebhook(f"{where}.deliveryContext.isRedelivery must be true or false")


def _string(value: Any, where: str, max_chars: int | None, *, required: bool = False,
            non_empty: bool | None = None) -> None:
    """``value`` is a text of at most ``max_chars``; ``required`` ones must be present (and, unless
    told otherwise, non-empty)."""
    if value is None and not required:
        return
    if not isinstance(value, str) or (value == "" and (required if non_empty is None else non_empty)):
        raise MalformedWebhook(f"{where} must be a{' non-empty' if required else ''} string")
    if max_chars is not None and len(value) > max_chars:
        raise MalformedWebhook(f"{where} must be at most {max_chars} characters")
