"""Message objects as admins write them (shorthand), validated against LINE's limits.

``render.py`` turns them into Messaging API JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, AliasChoices, Field, model_validator

from app.line import limits
from app.scenarios.fields import StrictModel, fail, keyed_union
from app.scenarios.variables import EXPECTED as VARIABLES_EXPECTED
from app.scenarios.variables import unknown_variables


def _known_variables(value: str) -> str:
    bad = unknown_variables(value)
    if bad:
        raise fail(f"unknown variable {', '.join(bad)}: {VARIABLES_EXPECTED}")
    return value


def _line_text(value: str) -> str:
    units = limits.utf16_units(value)
    if units > limits.MAX_TEXT_UTF16_UNITS:
        raise fail(f"text too long: {units} UTF-16 code units, expected at most {limits.MAX_TEXT_UTF16_UNITS}"
                   " (emoji count as 2)")
    return value


def _https(value: str) -> str:
    if not value.startswith("https://") or len(value) > limits.MAX_URL_CHARS:
        raise fail(f"expected an https:// URL of at most {limits.MAX_URL_CHARS} characters, got {value!r}")
    return value


VarText = Annotated[str, Field(min_length=1), AfterValidator(_known_variables)]
LineText = Annotated[str, Field(min_length=1), AfterValidator(_line_text), AfterValidator(_known_variables)]
HttpsUrl = Annotated[str, AfterValidator(_https)]
Label = Annotated[str, Field(min_length=1, max_length=limits.MAX_ACTION_LABEL_CHARS)]
PostbackData = Annotated[str, Field(min_length=1, max_length=limits.MAX_POSTBACK_DATA_CHARS)]


class QuickReplyItem(StrictModel):
    """``{label, text}`` sends ``text`` as the friend; ``{label, postback}`` (or ``data``) posts back,
    showing ``text`` in the chat if given."""

    label: Label
    text: Annotated[VarText, Field(max_length=300)] | None = None
    postback: PostbackData | None = Field(None, validation_alias=AliasChoices("postback", "data"))

    @model_validator(mode="after")
    def _has_action(self) -> QuickReplyItem:
        if self.text is None and self.postback is None:
            raise fail("expected text or postback (data) next to label")
        return self


class ButtonAction(QuickReplyItem):
    """A button: like a quick reply item, or ``{label, uri}`` to open a link."""

    uri: HttpsUrl | None = None

    @model_validator(mode="after")
    def _has_action(self) -> ButtonAction:
        if sum(x is not None for x in (self.postback, self.uri)) > 1 or (
            self.text is None and self.postback is None and self.uri is None
        ):
            raise fail("expected exactly one of text, postback (data) or uri next to label")
        return self


QuickReply = Annotated[list[QuickReplyItem], Field(min_length=1, max_length=limits.MAX_QUICK_REPLY_ITEMS)]


class _Message(StrictModel):
    quick_reply: QuickReply | None = None


class TextMessage(_Message):
    text: LineText


class ImageSpec(StrictModel):
    url: HttpsUrl
    preview: HttpsUrl


class ImageMessage(_Message):
    image: ImageSpec


class StickerSpec(StrictModel):
    package_id: str
    sticker_id: str


class StickerMessage(_Message):
    sticker: StickerSpec


class ButtonsSpec(StrictModel):
    """LINE's buttons template in shorthand; ``alt_text`` defaults to ``text``."""

    text: Annotated[VarText, Field(max_length=limits.MAX_BUTTONS_TEXT_CHARS)]
    actions: Annotated[list[ButtonAction], Field(min_length=1, max_length=limits.MAX_BUTTONS_ACTIONS)]
    title: Annotated[VarText, Field(max_length=limits.MAX_BUTTONS_TITLE_CHARS)] | None = None
    image: HttpsUrl | None = None
    alt_text: Annotated[VarText, Field(max_length=limits.MAX_TEMPLATE_ALT_TEXT_CHARS)] | None = None

    @model_validator(mode="after")
    def _short_text_with_title(self) -> ButtonsSpec:
        cap = limits.MAX_BUTTONS_TEXT_CHARS_WITH_IMAGE_OR_TITLE
        if (self.title or self.image) and len(self.text) > cap:
            raise fail(f"expected text of at most {cap} characters when title or image is set")
        return self


class ButtonsMessage(_Message):
    buttons: ButtonsSpec


_TEMPLATE_TYPES = ("buttons", "confirm", "carousel", "image_carousel")
_FLEX_TYPES = ("bubble", "carousel")


def _raw_with_type(allowed: tuple[str, ...]) -> Any:
    def check(value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type") not in allowed:
            raise fail(f"expected raw LINE JSON with type one of: {', '.join(allowed)}")
        return value

    return AfterValidator(check)


class TemplateMessage(_Message):
    """A raw LINE template object (``template``) plus its ``alt_text``."""

    template: Annotated[dict[str, Any], _raw_with_type(_TEMPLATE_TYPES)]
    alt_text: Annotated[VarText, Field(max_length=limits.MAX_TEMPLATE_ALT_TEXT_CHARS)]


class FlexSpec(StrictModel):
    alt_text: Annotated[VarText, Field(max_length=limits.MAX_FLEX_ALT_TEXT_CHARS)]
    contents: Annotated[dict[str, Any], _raw_with_type(_FLEX_TYPES)]


class FlexMessage(_Message):
    flex: FlexSpec


if TYPE_CHECKING:
    MessageDef = TextMessage | ImageMessage | StickerMessage | ButtonsMessage | TemplateMessage | FlexMessage
else:
    MessageDef = keyed_union(
        "expected a message with one of: text, image, sticker, buttons, template, flex",
        ("text", TextMessage), ("image", ImageMessage), ("sticker", StickerMessage),
        ("buttons", ButtonsMessage), ("template", TemplateMessage), ("flex", FlexMessage),
    )

Messages = Annotated[list[MessageDef], Field(min_length=1, max_length=limits.MAX_MESSAGES_PER_REQUEST)]
