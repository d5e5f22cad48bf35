"""Dashboard conversations (SPEC §9): chat view and form, inbox with its badge, rule sets page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db
from app.models.base import utcnow
from app.models.conversations import Handoff, OperatorMessage
from linesim.testing import SimulatorHandle
from tests.integration.conversations.conftest import incoming
from tests.integration.dashboard.conftest import make_friend

USER = "U" + "c" * 32


@pytest.fixture()
def env(env: dict[str, str], sim: SimulatorHandle) -> dict[str, str]:
    return {**env, "LINE_API_BASE_URL": sim.base_url}


def _open_handoff(friend_id: int) -> None:
    with db.transaction() as session:
        session.add(Handoff(friend_id=friend_id, channel="default", note="返品の相談", opened_at=utcnow()))


def test_chat_shows_the_conversation_and_who_sent_what(admin: FlaskClient, post: Callable[..., Any],
                                                       sim: SimulatorHandle) -> None:
    fid = make_friend("佐藤", user_id=USER)
    incoming(USER, text="こんにちは", at=utcnow() - timedelta(minutes=5))
    page = admin.get(f"/admin/friends/{fid}/chat").get_data(as_text=True)
    nonce = re.search(r'name="nonce" value="([^"]+)"', page)
    assert "こんにちは" in page and nonce
    assert post(f"/admin/friends/{fid}/chat", {"text": "担当の者です", "nonce": nonce.group(1)}).status_code == 302
    assert post(f"/admin/friends/{fid}/chat", {"text": "担当の者です", "nonce": nonce.group(1)}).status_code == 302
    assert len(sim.deliveries(to=USER)) == 1  # the double submit went out once
    page = admin.get(f"/admin/friends/{fid}/chat").get_data(as_text=True)
    assert "担当の者です" in page and "sent by" in page and "<strong>admin</strong>" in page
    with db.session() as session:
        assert session.scalar(sa.select(OperatorMessage.staff)) == "admin"


def test_inbox_lists_waiting_friends_and_the_badge_counts_them(admin: FlaskClient) -> None:
    fid = make_friend("鈴木", user_id=USER)
    _open_handoff(fid)
    page = admin.get("/admin/inbox").get_data(as_text=True)
    assert "鈴木" in page and "返品の相談" in page
    assert re.search(r'id="handoff-badge">1<', admin.get("/admin/friends").get_data(as_text=True))


def test_closing_from_the_inbox_gives_the_friend_back(admin: FlaskClient, post: Callable[..., Any]) -> None:
    fid = make_friend("鈴木", user_id=USER)
    _open_handoff(fid)
    assert post(f"/admin/friends/{fid}/handoff/close", {"next": "/admin/inbox"}).status_code == 302
    assert "Nobody is waiting" in admin.get("/admin/inbox").get_data(as_text=True)


def test_friend_page_shows_handoff_and_links_the_chat(admin: FlaskClient) -> None:
    fid = make_friend("鈴木", user_id=USER)
    _open_handoff(fid)
    page = admin.get(f"/admin/friends/{fid}").get_data(as_text=True)
    assert f"/admin/friends/{fid}/chat" in page and "waiting since" in page


def test_rulesets_page_lists_and_pauses(admin: FlaskClient, post: Callable[..., Any],
                                        admin_headers: dict[str, str]) -> None:
    admin.put("/admin/api/rulesets/base", headers=admin_headers,
              data="id: base\nname: 基本\nrules:\n  - when: {keyword: [a]}\n    do: [{reply: [{text: b}]}]\n")
    assert "基本" in admin.get("/admin/rulesets").get_data(as_text=True)
    post("/admin/rulesets/base/pause")
    assert "status-paused" in admin.get("/admin/rulesets").get_data(as_text=True)


def test_an_unknown_friend_answers_the_dashboards_404_page(admin: FlaskClient, post: Callable[..., Any]) -> None:
    for answer in (admin.get("/admin/friends/999999/chat"), post("/admin/friends/999999/chat", {"text": "hi"}),
                   post("/admin/friends/999999/handoff/close")):
        assert (answer.status_code, answer.mimetype) == (404, "text/html")
        assert "friend 999999 does not exist" in answer.get_data(as_text=True)


def test_closing_without_an_open_handoff_flashes_why(admin: FlaskClient, post: Callable[..., Any]) -> None:
    fid = make_friend("鈴木", user_id=USER)
    assert post(f"/admin/friends/{fid}/handoff/close", {"next": "/admin/inbox"}).status_code == 302
    page = admin.get("/admin/inbox").get_data(as_text=True)
    assert "flash-error" in page and "has no open handoff" in page
