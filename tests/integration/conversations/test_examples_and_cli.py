"""The example rule sets and rich menus validate, and the rulesets CLI does what the API does."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models.conversations import RuleSet
from app.services import richmenus
from tests.factories import add_enrollment, add_friend, add_scenario
from tests.integration.conversations.conftest import USER, incoming, reply_texts

ROOT = Path(__file__).resolve().parents[3]


def test_example_rich_menu_is_within_lines_limits() -> None:
    path = ROOT / "richmenus" / "main.yaml"
    [(menu, _data, kind)] = richmenus.validate([str(path)], [path.read_text(encoding="utf-8")])
    assert (menu.id, kind) == ("main", "image/png")


def test_cli_validate_load_list_pause_resume(app: Flask) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["rulesets", "validate", str(ROOT / "rules")]).exit_code == 0
    loaded = runner.invoke(args=["rulesets", "load", str(ROOT / "rules")])
    assert loaded.exit_code == 0 and "created: base v1 (live)" in loaded.output
    assert "base\tlive" in runner.invoke(args=["rulesets", "list"]).output
    assert runner.invoke(args=["rulesets", "pause", "base"]).output.strip() == "base: paused"
    assert runner.invoke(args=["rulesets", "resume", "base"]).output.strip() == "base: live"
    assert runner.invoke(args=["rulesets", "pause", "nothing"]).exit_code == 1


def test_cli_refuses_an_invalid_file_with_its_position(app: Flask, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nname: x\nrules:\n  - when: {keyword: [a]}\n    do: [{enroll: nowhere}]\n",
                   encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["rulesets", "load", str(bad)])
    assert result.exit_code == 1 and f"{bad}:5" in result.output
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(RuleSet)) == 0


def test_welcome_promise_stop_then_resume(app: Flask) -> None:
    """welcome.yaml says: send 配信再開 to resume. A second 配信停止 is answered too."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["rulesets", "load", str(ROOT / "rules")]).exit_code == 0
    import yaml

    with db.transaction() as session:
        doc = yaml.safe_load((ROOT / "scenarios" / "welcome.yaml").read_text(encoding="utf-8"))
        add_scenario(session, doc)
        add_enrollment(session, add_friend(session, USER), "welcome", step="tips")
    assert reply_texts(incoming(USER, text="配信停止"))[0].startswith("配信を停止しました")
    assert reply_texts(incoming(USER, text="配信停止"))[0].startswith("お知らせの配信は停止しています")
    assert reply_texts(incoming(USER, text="配信再開")) == ["お知らせの配信を再開しました。"]
    assert reply_texts(incoming(USER, text="メニュー"))[0].startswith("メニュー:")
