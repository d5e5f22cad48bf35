"""A rich menu document (SPEC §9) checked against LINE's limits, with LINE's camelCase object."""

from __future__ import annotations

import struct
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from app.scenarios.fields import ERROR_TYPE, StrictModel, check_pattern, fail
from app.scenarios.rule_defs import RICH_MENU_ID_PATTERN

MAX_AREAS = 20
MAX_IMAGE_BYTES = 1024 * 1024
MAX_CHAT_BAR_TEXT = 14
MAX_NAME = 300
# action type → the fields LINE requires for it
ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "postback": ("data",), "message": ("text",), "uri": ("uri",), "datetimepicker": ("data", "mode"),
    "richmenuswitch": ("richMenuAliasId", "data"), "camera": (), "cameraRoll": (), "location": (),
}


def _menu_id(v: str) -> str:
    if v == "default":
        raise fail("'default' is reserved (rule action rich_menu: default unlinks a friend's menu)")
    return check_pattern(v, RICH_MENU_ID_PATTERN, "a rich menu id")


def _action(v: dict[str, Any]) -> dict[str, Any]:
    kind = v.get("type")
    if kind not in ACTION_FIELDS:
        raise fail(f"expected an action type, one of: {', '.join(ACTION_FIELDS)}, got {kind!r}")
    missing = [name for name in ACTION_FIELDS[kind] if not v.get(name)]
    if missing:
        raise fail(f"a {kind} action needs {', '.join(missing)}")
    if len(str(v.get("data", ""))) > 300:
        raise fail("postback data is at most 300 characters")
    return v


class Bounds(StrictModel):
    x: Annotated[int, Field(ge=0)]
    y: Annotated[int, Field(ge=0)]
    width: Annotated[int, Field(ge=1)]
    height: Annotated[int, Field(ge=1)]


class Area(StrictModel):
    bounds: Bounds
    action: Annotated[dict[str, Any], AfterValidator(_action)]


class Size(StrictModel):
    """LINE: width 800–2500 px, height ≥ 250 px, width / height ≥ 1.45 (2500×1686 and 2500×843 are the usual)."""

    width: Annotated[int, Field(ge=800, le=2500)]
    height: Annotated[int, Field(ge=250)]

    @model_validator(mode="after")
    def _ratio(self) -> Size:
        if self.width / self.height < 1.45:
            raise fail(f"expected width / height ≥ 1.45 (e.g. 2500×1686 or 2500×843), got {self.width}×{self.height}")
        return self


class RichMenuDef(StrictModel):
    id: Annotated[str, AfterValidator(_menu_id)]
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    channel: Annotated[str, Field(min_length=1, max_length=64)] = "default"
    size: Size
    chat_bar_text: Annotated[str, Field(min_length=1, max_length=MAX_CHAT_BAR_TEXT)]
    selected: bool = False
    image: Annotated[str, Field(min_length=1)]
    areas: Annotated[list[Area], Field(min_length=1, max_length=MAX_AREAS)]
    default: bool = False

    @model_validator(mode="after")
    def _bounds_inside(self) -> RichMenuDef:
        errors = []
        for i, area in enumerate(self.areas):
            b = area.bounds
            if b.x + b.width > self.size.width or b.y + b.height > self.size.height:
                errors.append(InitErrorDetails(type=fail(
                    f"area reaches {b.x + b.width}×{b.y + b.height}, outside the {self.size.width}×{self.size.height}"
                    " image"), loc=("areas", i, "bounds"), input=b.model_dump()))
        if errors:
            raise ValidationError.from_exception_data(ERROR_TYPE, errors)
        return self

    def line_object(self) -> dict[str, Any]:
        """The rich menu object as LINE's create endpoint takes it."""
        return {"size": self.size.model_dump(), "selected": self.selected, "name": self.name,
                "chatBarText": self.chat_bar_text,
                "areas": [{"bounds": a.bounds.model_dump(), "action": a.action} for a in self.areas]}


def image_problem(data: bytes, size: Size) -> tuple[str | None, str | None]:
    """(content type, None) for a usable image, else (None, what is wrong)."""
    if len(data) > MAX_IMAGE_BYTES:
        return None, f"image is {len(data)} bytes; LINE takes at most {MAX_IMAGE_BYTES} (1 MB)"
    dims = _png_size(data)
    kind = "image/png"
    if dims is None:
        dims, kind = _jpeg_size(data), "image/jpeg"
    if dims is None:
        return None, "expected a PNG or JPEG image"
    if dims != (size.width, size.height):
        return None, f"image is {dims[0]}×{dims[1]} but size says {size.width}×{size.height}"
    return kind, None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return int(width), int(height)
        i += 2 + length
    return None
