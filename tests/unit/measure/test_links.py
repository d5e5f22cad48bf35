"""Link tokens, URL finding and rewriting (pure)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from app.measure.links import LinkRef, LinkSigner, collect_links, find_urls, rewrite


def _scope(ref: LinkRef) -> str | None:
    return "welcome:1" if ref.version_row == 7 else None


def test_token_round_trips_and_any_change_fails() -> None:
    signer = LinkSigner("k")
    ref = LinkRef(1234, 7, 0, 2)
    token = signer.token(ref, "welcome:1")
    assert signer.parse(token, _scope) == ref
    assert LinkSigner("other").parse(token, _scope) is None
    head, row, step, index, sig = token.split(".")
    assert signer.parse(f"{head}.{row}.{step}.3.{sig}", _scope) is None
    assert signer.parse(f"{int(head, 16) + 1:x}.{row}.{step}.{index}.{sig}", _scope) is None
    assert signer.parse("", _scope) is None and signer.parse("x.y.z", _scope) is None


def test_a_version_row_now_naming_another_scenario_fails() -> None:
    signer = LinkSigner("k")
    token = signer.token(LinkRef(1, 7, 0, 0), "deleted-scenario:1")
    assert signer.parse(token, _scope) is None


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


def test_tokens_are_the_same_as_before_the_keyed_mac_was_reused() -> None:
    """Links already sent must keep working: the signature is HMAC-SHA256 over payload|scope."""
    key = hashlib.sha256(b"stepline-links\x1f" + b"k").digest()
    payload = "4d2.7.0.2"
    expected = base64.urlsafe_b64encode(
        hmac.new(key, f"{payload}|welcome:1".encode(), hashlib.sha256).digest()[:12]).decode()
    assert LinkSigner("k").token(LinkRef(1234, 7, 0, 2), "welcome:1") == f"{payload}.{expected}"
