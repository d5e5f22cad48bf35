"""parse_body skips the storability walk only for bodies that cannot fail it (app/line/webhook_body.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.line.webhook_body import MAX_NESTING, MalformedWebhook, _plainly_storable, check_storable, parse_body

_TEXT = st.text(alphabet=st.sampled_from(["a", "あ", "\x00", "\ud800", "\udfff", "\\", "u", '"', "😀"]), max_size=6)
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | _TEXT,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
                     max_leaves=40)


def _encode(document: Any, ascii_only: bool) -> bytes:
    return json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@settings(max_examples=400, deadline=None)
@given(_JSON, st.booleans())
def test_a_body_passed_as_plainly_storable_always_passes_the_walk(document: Any, ascii_only: bool) -> None:
    body = _encode(document, ascii_only)
    if _plainly_storable(body):
        check_storable(json.loads(body), MAX_NESTING)  # must not raise


def _event_body(extra: Any) -> bytes:
    event = {"type": "message", "webhookEventId": "01E", "timestamp": 1, "mode": "active",
             "source": {"type": "user", "userId": "U1"}, "message": {"type": "text", "text": "x", "extra": extra}}
    return json.dumps({"destination": "U", "events": [event]}, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("extra", ["a\x00b", "lone \ud800", {"key\x00": 1}, _nested(MAX_NESTING)],
                         ids=["NUL (escaped)", "surrogate (UTF-8 bytes)", "NUL in a key", "nesting past the limit"])
def test_what_the_walk_refuses_is_still_refused(extra: Any) -> None:
    with pytest.raises(MalformedWebhook):
        parse_body(_event_body(extra))


def test_an_ordinary_body_skips_the_walk_and_parses() -> None:
    body = _event_body("こんにちは 😀")
    assert _plainly_storable(body)
    assert parse_body(body)[0]["message"]["extra"] == "こんにちは 😀"
