"""The demo's saved state, its one-at-a-time guard and the friend command's events."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.services.test_sends import USER_ID
from demo import state as demo_state
from demo.friend import event_for
from demo.friends import NAMES, user_id_for


def test_state_is_kept_across_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    first = demo_state.load_or_create(tmp_path)
    again = demo_state.load_or_create(tmp_path)
    assert again == first and first.database_url == f"sqlite:///{tmp_path / 'demo.db'}"
    assert demo_state.load_or_create(tmp_path, web_port=9123).admin_token == first.admin_token


def test_a_second_demo_is_refused_with_the_running_ones_url(tmp_path: Path) -> None:
    demo_state.claim(tmp_path, {"dashboard": "http://127.0.0.1:8000/admin", "simulator": "http://x"})
    with pytest.raises(SystemExit, match=r"already running \(pid \d+\): dashboard http://127.0.0.1:8000/admin"):
        demo_state.claim(tmp_path, {"dashboard": "http://127.0.0.1:8001/admin"})
    demo_state.release(tmp_path)
    assert demo_state.running_demo(tmp_path) is None


def test_a_dead_demos_running_file_does_not_block_a_new_one(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "running.json").write_text(f'{{"pid": {int(dead.stdout)}, "dashboard": "old"}}')
    demo_state.claim(tmp_path, {"dashboard": "new"})
    assert demo_state.running_demo(tmp_path) == {"pid": os.getpid(), "dashboard": "new"}


def test_export_block_names_everything_the_cli_needs(tmp_path: Path) -> None:
    state = demo_state.DemoState("tok en", 8000, 8090, "sqlite:///x.db")
    block = demo_state.export_block(demo_state.cli_environment(state, "redis://127.0.0.1:6390/0"))
    assert "export REDIS_URL=redis://127.0.0.1:6390/0" in block and "export ADMIN_TOKEN='tok en'" in block
    assert "export LINE_API_BASE_URL=http://127.0.0.1:8090" in block and "LINE_CHANNEL_ACCESS_TOKEN=" in block


def test_demo_friends_have_ids_test_send_accepts() -> None:
    ids = [user_id_for(name) for name in [*NAMES, "たろう"]]
    assert all(USER_ID.fullmatch(i) for i in ids) and len(set(ids)) == len(ids)
    assert user_id_for("たろう") == user_id_for("たろう")


def test_friend_command_events() -> None:
    assert event_for("follow", "U1", None) == {"type": "follow", "userId": "U1"}
    assert event_for("say", "U1", "メニュー") == {"type": "message", "userId": "U1", "text": "メニュー"}
    assert event_for("postback", "U1", "demo=like") == {"type": "postback", "userId": "U1", "data": "demo=like"}
    assert event_for("block", "U1", None) == {"type": "unfollow", "userId": "U1"}
    with pytest.raises(SystemExit, match="give the text"):
        event_for("say", "U1", None)
