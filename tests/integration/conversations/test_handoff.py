"""SPEC §9 handoff: rule replies stop, stop/opt_out still work, steps pause only when asked, staff are told."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from app.config import Settings
from app.extensions import db
from app.models.base import utcnow
from app.models.conversations import Handoff
from app.models.delivery import Enrollment
from app.services import chats, conversations
from tests.factories import T0, add_enrollment, add_friend, add_scenario, scenario_doc
from tests.integration.conversations.conftest import USER, incoming, reply_texts

pytestmark = pytest.mark.usefixtures("bound")


def _setup(handoff: Any = True) -> int:
    with db.transaction() as session:
        add_scenario(session, scenario_doc(rules=[
            {"when": {"keyword": ["担当者"]}, "do": [{"reply": [{"text": "担当者におつなぎします"}]},
                                                   {"handoff": handoff}]},
            {"when": {"keyword": ["メニュー"]}, "do": [{"reply": [{"text": "menu"}]}]},
            {"when": {"keyword": ["配信停止"]}, "do": [{"reply": [{"text": "停止しました"}]}, {"stop": True}]},
        ]))
        friend = add_friend(session, USER, display_name="Aki")
        return add_enrollment(session, friend, "welcome", step="tips", run_at=T0 + timedelta(hours=1)).id


def test_handoff_rule_replies_then_bot_stays_quiet() -> None:
    _setup()
    opened = incoming(USER, text="担当者")
    assert reply_texts(opened) == ["担当者におつなぎします"] and len(opened.effects.handoffs_opened) == 1
    assert reply_texts(incoming(USER, text="メニュー", at=T0 + timedelta(minutes=6))) == []


def test_stop_keyword_still_works_during_handoff() -> None:
    eid = _setup()
    incoming(USER, text="担当者")
    assert reply_texts(incoming(USER, text="配信停止", at=T0 + timedelta(minutes=6))) == ["停止しました"]
    with db.session() as session:
        assert session.scalar(sa.select(Enrollment.status).where(Enrollment.id == eid)) == "stopped"


def test_messages_during_handoff_are_logged() -> None:
    _setup()
    incoming(USER, text="担当者")
    incoming(USER, text="返品したいです", at=T0 + timedelta(minutes=6))
    log = chats.messages_of(USER, 10)
    assert [(e["direction"], e["kind"], e["text"]) for e in log] == [
        ("in", "message", "担当者"), ("out", "reply", "担当者におつなぎします"), ("in", "message", "返品したいです")]


def test_steps_continue_by_default() -> None:
    eid = _setup()
    incoming(USER, text="担当者")
    with db.session() as session:
        assert session.scalar(sa.select(Enrollment.next_run_at).where(Enrollment.id == eid)) == T0 + timedelta(hours=1)


def test_pause_steps_holds_them_until_closed() -> None:
    eid = _setup({"note": "返品の相談", "pause_steps": True})
    incoming(USER, text="担当者")
    with db.session() as session:
        assert session.scalar(sa.select(Enrollment.next_run_at).where(Enrollment.id == eid)) is None
    [waiting] = chats.open_handoffs()
    assert (waiting["user_id"], waiting["note"], waiting["pause_steps"]) == (USER, "返品の相談", True)
    chats.close_handoff(USER, "staff@example.com", T0 + timedelta(minutes=30))
    with db.session() as session:
        assert session.scalar(sa.select(Enrollment.next_run_at).where(Enrollment.id == eid)) == T0 + timedelta(hours=1)
    assert chats.open_handoffs() == []


def test_closing_gives_the_friend_back_to_the_bot() -> None:
    _setup()
    incoming(USER, text="担当者")
    chats.close_handoff(USER, "admin", T0 + timedelta(minutes=7))
    assert reply_texts(incoming(USER, text="メニュー", at=T0 + timedelta(minutes=8))) == ["menu"]


def test_a_second_handoff_while_one_is_open_opens_nothing() -> None:
    _setup()
    incoming(USER, text="担当者")
    with db.transaction() as session:
        session.execute(sa.update(Handoff).values(opened_at=T0))
    assert incoming(USER, text="配信停止", at=T0 + timedelta(minutes=6)).effects.handoffs_opened == []
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Handoff)) == 1


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def receiver() -> Iterator[str]:
    _Receiver.received, _Receiver.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import urllib3

    return int(urllib3.request("POST", url, body=body, headers=headers, timeout=5).status)


def test_staff_webhook_gets_a_signed_notice(receiver: str, bound: Settings) -> None:
    _setup({"note": "返品"})
    [handoff_id] = incoming(USER, text="担当者").effects.handoffs_opened
    settings = Settings(**{**bound.__dict__, "staff_webhook_url": receiver, "staff_webhook_secret": "s3cret"})
    assert conversations.notify_staff(handoff_id, settings=settings, now=utcnow(), post=_post)
    [(headers, body)] = _Receiver.received
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-stepline-signature"], expected)
    notice = json.loads(body)
    assert (notice["type"], notice["user_id"], notice["note"], notice["waiting"]) == ("handoff.opened", USER, "返品", 1)
    assert conversations.notify_staff(handoff_id, settings=settings, now=utcnow(), post=_post)
    assert len(_Receiver.received) == 1  # told once


def test_staff_webhook_failure_raises_for_a_retry(receiver: str, bound: Settings) -> None:
    _setup()
    [handoff_id] = incoming(USER, text="担当者").effects.handoffs_opened
    _Receiver.status = 503
    settings = Settings(**{**bound.__dict__, "staff_webhook_url": receiver, "staff_webhook_secret": "s"})
    with pytest.raises(conversations.NoticeFailed):
        conversations.notify_staff(handoff_id, settings=settings, now=utcnow(), post=_post)
    notified: list[int] = []  # the scheduler's sweep tries the notice again
    assert conversations.sweep(utcnow() + timedelta(minutes=5), send=notified.append, notify=notified.append) == 1
    assert notified == [handoff_id]


def test_friend_json_shows_the_open_handoff_until_it_is_closed(client: Any, admin_headers: dict[str, str]) -> None:
    _setup()
    incoming(USER, text="担当者")
    friend = client.get(f"/admin/api/friends/{USER}", headers=admin_headers).get_json()
    assert friend["handoff"] and friend["handoff"] is not True  # the open handoff itself, not a flag
    listed = client.get(f"/admin/api/friends?q={USER}", headers=admin_headers).get_json()["friends"]
    assert listed[0]["handoff"] == friend["handoff"]
    assert client.post(f"/admin/api/friends/{USER}/handoff/close", headers=admin_headers).status_code == 200
    assert client.get(f"/admin/api/friends/{USER}", headers=admin_headers).get_json()["handoff"] is False
