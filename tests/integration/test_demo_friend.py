"""``./stepline friend``: one command becomes one signed webhook from the demo's simulator to the bot."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models.events import WebhookEvent
from demo import friend as friend_command
from demo.friends import user_id_for
from linesim.testing import start_in_thread
from tests.conftest import CHANNEL_SECRET, CHANNEL_TOKEN


@pytest.fixture()
def bot_url(app: Flask) -> Iterator[str]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture()
def running_demo(bot_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A simulator that knows the bot's webhook URL and secret, registered as the running demo."""
    sim = start_in_thread(webhook_url=f"{bot_url}/callback", channel_secret=CHANNEL_SECRET, access_token=CHANNEL_TOKEN)
    (tmp_path / "running.json").write_text(json.dumps(
        {"pid": os.getpid(), "dashboard": f"{bot_url}/admin", "simulator": sim.base_url}))
    monkeypatch.setattr(friend_command, "STATE_DIR", tmp_path)
    yield tmp_path
    sim.stop()


def test_friend_say_reaches_the_bot_as_a_signed_message_event(running_demo: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert friend_command.main(["say", "たろう", "メニュー", "ください"]) == 0
    assert "[200]" in capsys.readouterr().out  # the bot accepted the signature
    with db.session() as session:
        event = session.scalars(sa.select(WebhookEvent).where(WebhookEvent.user_id == user_id_for("たろう"))).one()
    assert event.type == "message" and event.payload["message"]["text"] == "メニュー ください"


def test_friend_follow_then_block(running_demo: Path) -> None:
    assert friend_command.main(["follow", "はなこ"]) == 0
    assert friend_command.main(["block", "はなこ"]) == 0
    with db.session() as session:
        types = list(session.scalars(sa.select(WebhookEvent.type).where(
            WebhookEvent.user_id == user_id_for("はなこ")).order_by(WebhookEvent.id)))
    assert types == ["follow", "unfollow"]


def test_friend_without_a_running_demo_says_how_to_start_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(friend_command, "STATE_DIR", tmp_path)
    assert friend_command.main(["follow", "たろう"]) == 2
    assert "./stepline demo" in capsys.readouterr().err
