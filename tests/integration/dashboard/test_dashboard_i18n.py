"""Japanese and English dashboard: the switch and its cookie, browser preference, complete catalogs."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.mofile import write_mo
from flask.testing import FlaskClient

from app import i18n_catalogs
from app.i18n import LANGUAGE_COOKIE
from tests.integration.dashboard.conftest import VALID_SCENARIO


def test_every_dashboard_string_has_a_japanese_translation() -> None:
    """Fails when a template or view gains an ``_()`` string the ja catalog lacks: run ``./stepline i18n``
    and translate what it lists."""
    missing = i18n_catalogs.untranslated(i18n_catalogs.extract(), i18n_catalogs.read_catalog("ja"))
    assert missing == []


TEMPLATES = sorted((Path(i18n_catalogs.ROOT) / "app" / "admin" / "templates").rglob("*.html"))
NOT_WORDS = {"Stepline", "UTC", "ID", "English"}  # names, not prose


def _bare_words(template: str) -> list[str]:
    """English words outside ``{{ }}``/``{% %}`` in text and in aria-label/title/alt attributes
    (placeholders hold syntax examples such as ``attribute=value`` and are left out)."""
    text = re.sub(r"\{#.*?#\}", " ", template, flags=re.S)
    attributes = re.findall(r'\b(?:aria-label|title|alt)="([^"]*)"', text)
    chunks = [re.sub(r"<[^>]*>", " ", text, flags=re.S), *attributes]
    words = []
    for chunk in chunks:
        chunk = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", chunk, flags=re.S)
        words += [w for w in re.findall(r"[A-Za-z][A-Za-z']+", chunk) if w not in NOT_WORDS]
    return words


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_template_text_is_wrapped_for_translation(template: Path) -> None:
    """Text a template shows must go through ``_()``, or no catalog can translate it."""
    assert _bare_words(template.read_text(encoding="utf-8")) == []


def test_committed_mo_is_compiled_from_the_committed_po() -> None:
    compiled = io.BytesIO()
    write_mo(compiled, i18n_catalogs.read_catalog("ja"), use_fuzzy=False)
    committed = (i18n_catalogs.TRANSLATIONS / "ja" / "LC_MESSAGES" / "messages.mo").read_bytes()
    assert committed == compiled.getvalue(), "run ./stepline i18n compile"


def test_english_is_the_default(client: FlaskClient) -> None:
    body = client.get("/admin/login").get_data(as_text=True)
    assert '<html lang="en">' in body and ">Log in</button>" in body


def test_a_japanese_browser_gets_japanese(client: FlaskClient) -> None:
    body = client.get("/admin/login", headers={"Accept-Language": "ja-JP,ja;q=0.9"}).get_data(as_text=True)
    assert '<html lang="ja">' in body and ">ログイン</button>" in body


def test_lang_switch_is_remembered_in_a_cookie(client: FlaskClient) -> None:
    switched = client.get("/admin/login?lang=ja")
    assert f"{LANGUAGE_COOKIE}=ja" in switched.headers.get("Set-Cookie", "")
    assert ">ログイン</button>" in switched.get_data(as_text=True)
    later = client.get("/admin/login")  # no ?lang: the cookie decides
    assert ">ログイン</button>" in later.get_data(as_text=True)
    back = client.get("/admin/login?lang=en", headers={"Accept-Language": "ja"})
    assert f"{LANGUAGE_COOKIE}=en" in back.headers.get("Set-Cookie", "")
    assert ">Log in</button>" in back.get_data(as_text=True)


def test_an_unknown_lang_is_ignored_and_sets_no_cookie(client: FlaskClient) -> None:
    response = client.get("/admin/login?lang=fr")
    assert LANGUAGE_COOKIE not in response.headers.get("Set-Cookie", "")
    assert '<html lang="en">' in response.get_data(as_text=True)


def test_top_bar_links_switch_language_on_the_same_page(admin: FlaskClient) -> None:
    body = admin.get("/admin/friends?q=abc").get_data(as_text=True)
    assert 'href="/admin/friends?q=abc&amp;lang=ja"' in body and 'href="/admin/friends?q=abc&amp;lang=en"' in body


def test_japanese_pages_use_line_operator_words(post: Any, admin: FlaskClient) -> None:
    post("/admin/scenarios/upload", {"source": VALID_SCENARIO, "source_name": "welcome.yaml", "confirm": "1"})
    body = admin.get("/admin/scenarios?lang=ja").get_data(as_text=True)
    assert "シナリオ" in body and ">配信中<" in body and "配信失敗" in body and "友だち" in body
    overview = admin.get("/admin?lang=ja").get_data(as_text=True)
    assert "保留" in overview and "概要" in overview


def test_flash_messages_follow_the_language(post: Any, admin: FlaskClient) -> None:
    post("/admin/scenarios/upload", {"source": VALID_SCENARIO, "source_name": "welcome.yaml", "confirm": "1"})
    admin.get("/admin/scenarios?lang=ja")
    page = post("/admin/scenarios/welcome/pause", {"next": "/admin/scenarios"}, follow_redirects=True)
    assert "welcome: 一時停止しました（現在: 一時停止中）。" in page.get_data(as_text=True)


def test_api_answers_japanese_unescaped(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    client.post("/admin/api/scenarios", json={"files": [{"name": "welcome.yaml", "text": VALID_SCENARIO}]},
                headers=admin_headers)
    raw = client.get("/admin/api/scenarios", headers=admin_headers).get_data()
    assert "ウェルカム".encode() in raw and b"\\u30a6" not in raw
