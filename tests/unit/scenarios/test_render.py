"""Rendering to LINE message objects that LINE's own OpenAPI schema accepts."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from app.scenarios.messages import MessageDef
from app.scenarios.render import content_key, render_messages
from linesim.validation import validate_message

MESSAGES: TypeAdapter[list[Any]] = TypeAdapter(list[MessageDef])


def render(messages: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
    kwargs.setdefault("display_name", "花子")
    kwargs.setdefault("attributes", {})
    return render_messages(MESSAGES.validate_python(messages), **kwargs)


def test_text_with_variables_and_quick_reply() -> None:
    (out,) = render([{"text": "{display_name}さん、{attribute.plan}プランです {{ok}}",
                      "quick_reply": [{"label": "詳しく", "text": "詳しく"},
                                      {"label": "買う", "postback": "action=buy", "text": "買います"}]}],
                    attributes={"plan": "ゴールド"})
    assert out == {
        "type": "text", "text": "花子さん、ゴールドプランです {ok}",
        "quickReply": {"items": [
            {"type": "action", "action": {"type": "message", "label": "詳しく", "text": "詳しく"}},
            {"type": "action", "action": {"type": "postback", "label": "買う", "data": "action=buy",
                                          "displayText": "買います"}},
        ]},
    }


def test_missing_display_name_and_attribute_render_empty() -> None:
    (out,) = render([{"text": "{display_name}様 {attribute.nope}!"}], display_name=None)
    assert out["text"] == "様 !"


def test_image_sticker_buttons_template_flex() -> None:
    out = render([
        {"image": {"url": "https://e.x/a.jpg", "preview": "https://e.x/a-s.jpg"}},
        {"sticker": {"package_id": 446, "sticker_id": "1988"}},
        {"buttons": {"title": "メニュー", "text": "選んでください", "image": "https://e.x/t.jpg",
                     "actions": [{"label": "サイト", "uri": "https://e.x"}, {"label": "購入", "data": "buy"}]}},
        {"template": {"type": "confirm", "text": "OK?", "actions": [
            {"type": "message", "label": "はい", "text": "はい"},
            {"type": "message", "label": "いいえ", "text": "いいえ"}]},
         "alt_text": "確認"},
        {"flex": {"alt_text": "お知らせ", "contents": {"type": "bubble", "body": {
            "type": "box", "layout": "vertical", "contents": [{"type": "text", "text": "hi"}]}}}},
    ])
    assert out[0] == {"type": "image", "originalContentUrl": "https://e.x/a.jpg", "previewImageUrl": "https://e.x/a-s.jpg"}
    assert out[1] == {"type": "sticker", "packageId": "446", "stickerId": "1988"}
    assert out[2]["type"] == "template" and out[2]["altText"] == "選んでください"
    assert out[2]["template"]["thumbnailImageUrl"] == "https://e.x/t.jpg"
    assert out[2]["template"]["actions"][1] == {"type": "postback", "label": "購入", "data": "buy"}
    assert out[3]["altText"] == "確認" and out[3]["template"]["type"] == "confirm"
    assert out[4]["type"] == "flex" and out[4]["altText"] == "お知らせ"


def test_rendered_messages_validate_against_line_openapi() -> None:
    out = render([
        {"text": "{display_name}さん", "quick_reply": [{"label": "a", "text": "a"}, {"label": "b", "data": "b=1"}]},
        {"image": {"url": "https://e.x/a.jpg", "preview": "https://e.x/a-s.jpg"}},
        {"sticker": {"package_id": "446", "sticker_id": "1988"}},
        {"buttons": {"text": "t", "actions": [{"label": "l", "text": "x"}, {"label": "u", "uri": "https://e.x"}]}},
        {"flex": {"alt_text": "alt", "contents": {"type": "bubble", "body": {
            "type": "box", "layout": "vertical", "contents": [{"type": "text", "text": "hi"}]}}}},
    ])
    for message in out:
        errors = validate_message(message, "messages[0]")  # the simulator's OpenAPI check, as LINE does
        assert errors == [], (message, errors)
    broken = {"type": "image", "previewImageUrl": "https://e.x"}
    assert validate_message(broken, "messages[0]")  # the validator does catch omissions


def test_long_attribute_cannot_push_text_over_line_limit() -> None:
    (out,) = render([{"text": "x{attribute.bio}"}], attributes={"bio": "😀" * 3000})
    assert len(out["text"].encode("utf-16-le")) // 2 <= 5000


def test_content_key_is_stable_and_content_sensitive() -> None:
    a = render([{"text": "{display_name}"}], display_name="A")
    assert content_key(a) == content_key(render([{"text": "{display_name}"}], display_name="A"))
    assert content_key(a) != content_key(render([{"text": "{display_name}"}], display_name="B"))
