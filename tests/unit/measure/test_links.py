"""Link tokens, URL finding and rewriting (pure)."""

from __future__ import annotations

from app.measure.links import LinkSigner, collect_links, find_urls, rewrite


def test_token_round_trips_and_any_change_fails() -> None:
    signer = LinkSigner("k")
    token = signer.token(1234, 2)
    assert signer.parse(token) == (1234, 2)
    assert LinkSigner("other").parse(token) is None
    head, index, sig = token.split(".")
    assert signer.parse(f"{head}.3.{sig}") is None
    assert signer.parse(f"{int(head, 16) + 1:x}.{index}.{sig}") is None
    assert signer.parse("") is None and signer.parse("x.y.z") is None


def test_urls_end_before_trailing_and_japanese_punctuation() -> None:
    text = "詳細はこちら https://a.example/x?y=1。次は(https://b.example/p). 最後 http://c.example"
    assert [u for _, _, u in find_urls(text)] == ["https://a.example/x?y=1", "https://b.example/p",
                                                  "http://c.example"]


def test_rewrite_keeps_unknown_urls_and_counts_replacements() -> None:
    messages = [{"type": "text", "text": "a https://a.example b https://z.example"}]
    out, count = rewrite(messages, ["https://a.example"], lambda i: f"T{i}")
    assert out[0]["text"] == "a T0 b https://z.example" and count == 1
    assert messages[0]["text"] == "a https://a.example b https://z.example"  # input untouched


def test_collect_links_finds_text_and_uri_actions_once_each() -> None:
    messages = [{"type": "text", "text": "https://a.example and https://a.example"},
                {"type": "template", "altText": "x", "template": {"type": "buttons", "text": "t", "actions": [
                    {"type": "uri", "label": "l", "uri": "https://b.example"}]}}]
    assert collect_links(messages) == ["https://a.example", "https://b.example"]
