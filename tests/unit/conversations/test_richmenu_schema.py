"""Rich menu documents and images against LINE's limits (pure: no database, no LINE)."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from pydantic import ValidationError

from app.conversations.richmenu_schema import RichMenuDef, Size, image_problem
from app.scenarios.ruleset_schema import RuleSetDef
from tests.support.images import png


def _menu(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": "main", "name": "m", "size": {"width": 2500, "height": 1686}, "chat_bar_text": "menu",
                           "image": "m.png", "areas": [{"bounds": {"x": 0, "y": 0, "width": 2500, "height": 1686},
                                                        "action": {"type": "uri", "uri": "https://example.com"}}]}
    doc.update(overrides)
    return doc


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def test_line_object_is_camel_case() -> None:
    menu = RichMenuDef.model_validate(_menu(selected=True))
    assert menu.line_object()["chatBarText"] == "menu" and menu.line_object()["selected"] is True


def test_default_is_not_a_menu_id() -> None:
    with pytest.raises(ValidationError):
        RichMenuDef.model_validate(_menu(id="default"))


def test_action_needs_its_fields() -> None:
    areas = [{"bounds": {"x": 0, "y": 0, "width": 10, "height": 10}, "action": {"type": "postback"}}]
    with pytest.raises(ValidationError, match="needs data"):
        RichMenuDef.model_validate(_menu(areas=areas))


def test_jpeg_dimensions_are_read_from_its_frame_header() -> None:
    size = Size(width=2500, height=843)
    assert image_problem(_jpeg(2500, 843), size) == ("image/jpeg", None)
    assert "2500×1686" in str(image_problem(_jpeg(2500, 1686), size)[1])
    assert image_problem(png(2500, 843), size) == ("image/png", None)
    assert image_problem(b"GIF89a....", size)[1] == "expected a PNG or JPEG image"


def test_ruleset_refuses_goto_and_goal() -> None:
    rules = [{"when": {"keyword": ["a"]}, "do": [{"goto": "x"}]}]
    with pytest.raises(ValidationError, match="use it in a scenario"):
        RuleSetDef.model_validate({"id": "r", "name": "r", "rules": rules})
