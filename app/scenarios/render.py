"""Scenario messages → LINE Messaging API message objects (camelCase JSON), variables filled in."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from app.line import limits
from app.scenarios.messages import (
    ButtonAction,
    ButtonsMessage,
    FlexMessage,
    ImageMessage,
    MessageDef,
    QuickReplyItem,
    StickerMessage,
    TemplateMessage,
    TextMessage,
)
from app.scenarios.variables import substitute

_MAX_ACTION_TEXT = 300


def _clip(text: str, max_units: int) -> str:
    """Cut to LINE's UTF-16 budget (a long attribute value must not make LINE reject the push)."""
    if limits.utf16_units(text) <= max_units:
        return text
    out, used = [], 0
    for ch in text:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > max_units:
            break
        out.append(ch)
        used += size
    return "".join(out)


def _action(item: QuickReplyItem, fill: Any) -> dict[str, Any]:
    if item.postback is not None:
        action = {"type": "postback", "label": item.label, "data": item.postback}
        if item.text is not None:
            action["displayText"] = _clip(fill(item.text), _MAX_ACTION_TEXT)
        return action
    if isinstance(item, ButtonAction) and item.uri is not None:
        return {"type": "uri", "label": item.label, "uri": item.uri}
    return {"type": "message", "label": item.label, "text": _clip(fill(item.text or ""), _MAX_ACTION_TEXT)}


def _one(message: MessageDef, fill: Any) -> dict[str, Any]:
    out: dict[str, Any]
    if isinstance(message, TextMessage):
        out = {"type": "text", "text": _clip(fill(message.text), limits.MAX_TEXT_UTF16_UNITS)}
    elif isinstance(message, ImageMessage):
        out = {"type": "image", "originalContentUrl": message.image.url, "previewImageUrl": message.image.preview}
    elif isinstance(message, StickerMessage):
        out = {"type": "sticker", "packageId": message.sticker.package_id, "stickerId": message.sticker.sticker_id}
    elif isinstance(message, ButtonsMessage):
        spec = message.buttons
        template: dict[str, Any] = {"type": "buttons", "text": fill(spec.text),
                                    "actions": [_action(a, fill) for a in spec.actions]}
        if spec.title:
            template["title"] = fill(spec.title)
        if spec.image:
            template["thumbnailImageUrl"] = spec.image
        alt = fill(spec.alt_text or spec.text)
        out = {"type": "template", "altText": alt[: limits.MAX_TEMPLATE_ALT_TEXT_CHARS], "template": template}
    elif isinstance(message, TemplateMessage):
        out = {"type": "template", "altText": fill(message.alt_text)[: limits.MAX_TEMPLATE_ALT_TEXT_CHARS],
               "template": message.template}
    else:
        assert isinstance(message, FlexMessage)
        out = {"type": "flex", "altText": fill(message.flex.alt_text)[: limits.MAX_FLEX_ALT_TEXT_CHARS],
               "contents": message.flex.contents}
    if message.quick_reply:
        out["quickReply"] = {"items": [{"type": "action", "action": _action(i, fill)} for i in message.quick_reply]}
    return out


def render_messages(messages: list[MessageDef], *, display_name: str | None,
                    attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """LINE message objects for one push or reply.

    ``{display_name}`` renders as "" when the profile is unknown and ``{attribute.x}`` as "" when
    the attribute is missing, so no raw ``{...}`` ever reaches a friend.
    """

    def fill(text: str) -> str:
        return substitute(text, display_name=display_name, attributes=attributes)

    return [_one(m, fill) for m in messages]


def content_key(rendered: list[dict[str, Any]]) -> str:
    """Stable hash of rendered content: equal keys may share one multicast."""
    canonical = json.dumps(rendered, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class _Every(Mapping[str, str]):
    """Every attribute name maps to one value: a probe that makes any ``{attribute.x}`` visible."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __getitem__(self, key: str) -> str:
        return self._value

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def uses_variables(messages: list[MessageDef]) -> bool:
    """True when rendering depends on the friend (a ``{display_name}`` or ``{attribute.x}``
    anywhere); False means every friend gets the same objects, so one render serves a whole batch.

    Each text is filled with two different probe friends: only a variable can make them differ.
    """
    found = False

    def probe(text: str) -> str:
        nonlocal found
        one = substitute(text, display_name="\x00a", attributes=_Every("\x00b"))
        if one != substitute(text, display_name="\x00c", attributes=_Every("\x00d")):
            found = True
        return one

    for message in messages:
        _one(message, probe)
    return found
