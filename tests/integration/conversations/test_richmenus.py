"""SPEC §9 rich menus: checked against LINE's limits, loaded onto LINE (simulator), linked by rules."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from flask import Flask
from flask.testing import FlaskClient

from app.config import Settings
from app.conversations.richmenu_links import rich_menu_of
from app.extensions import db
from app.models.base import utcnow
from app.scenarios.errors import ScenarioInvalid
from app.services import richmenus
from linesim.testing import SimulatorHandle
from tests.factories import add_enrollment, add_friend, add_scenario, scenario_doc
from tests.integration.conversations.conftest import USER, friend_id, incoming, png

MENU = """id: main
name: メインメニュー
size: {width: 2500, height: 843}
chat_bar_text: メニュー
selected: true
image: main.png
default: true
areas:
  - bounds: {x: 0, y: 0, width: 1250, height: 843}
    action: {type: message, text: メニュー}
  - bounds: {x: 1250, y: 0, width: 1250, height: 843}
    action: {type: postback, data: "action=shop", displayText: ショップ}
"""


def _files(tmp_path: Path, text: str = MENU, image: bytes | None = None) -> str:
    (tmp_path / "main.png").write_bytes(image if image is not None else png(2500, 843))
    path = tmp_path / "main.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _state(sim: SimulatorHandle) -> dict[str, Any]:
    return sim.control("GET", "richmenus?channel=default")


def _load(app: Flask, path: str) -> dict[str, Any]:
    with app.app_context():
        from app.current import current_settings

        return richmenus.load([path], [Path(path).read_text(encoding="utf-8")], settings=current_settings(),
                              now=utcnow())[0]


def test_load_creates_menu_image_alias_and_default(app: Flask, sim: SimulatorHandle, tmp_path: Path) -> None:
    loaded = _load(app, _files(tmp_path))
    state = _state(sim)
    assert loaded["action"] == "created"
    assert state["aliases"] == {"main": loaded["line_id"]} and state["default"] == loaded["line_id"]
    assert state["images"][loaded["line_id"]]["content_type"] == "image/png"
    assert state["menus"][loaded["line_id"]]["chatBarText"] == "メニュー"


def test_reload_moves_the_alias_and_linked_friends(app: Flask, sim: SimulatorHandle, tmp_path: Path) -> None:
    path = _files(tmp_path)
    first = _load(app, path)
    with db.transaction() as session:
        add_scenario(session, scenario_doc(rules=[{"when": {"keyword": ["メニュー"]}, "do": [{"rich_menu": "main"}]}]))
        add_enrollment(session, add_friend(session, USER), "welcome", step="tips")
    result = incoming(USER, text="メニュー")
    assert result.effects.rich_menus == ["main"]
    with app.app_context():
        from app.current import current_settings

        assert richmenus.link_on_line(current_settings(), "default", USER, "main")
    assert _state(sim)["links"] == {USER: first["line_id"]}
    second = _load(app, path)
    state = _state(sim)
    assert second["line_id"] != first["line_id"] and second["moved_friends"] == 1
    assert state["aliases"]["main"] == second["line_id"] and state["links"] == {USER: second["line_id"]}
    with db.session() as session:
        assert rich_menu_of(session, friend_id(USER)) == "main"


def test_rich_menu_default_unlinks(app: Flask, sim: SimulatorHandle, tmp_path: Path) -> None:
    _load(app, _files(tmp_path))
    with db.transaction() as session:
        add_scenario(session, scenario_doc(rules=[{"when": {"keyword": ["戻す"]}, "do": [{"rich_menu": "default"}]},
                                                  {"when": {"keyword": ["メニュー"]}, "do": [{"rich_menu": "main"}]}]))
        add_enrollment(session, add_friend(session, USER), "welcome", step="tips")
    incoming(USER, text="メニュー")
    incoming(USER, text="戻す")
    with db.session() as session:
        assert rich_menu_of(session, friend_id(USER)) is None
    with app.app_context():
        from app.current import current_settings

        assert richmenus.link_on_line(current_settings(), "default", USER, "default")
    assert _state(sim)["links"] == {}


def _issues(tmp_path: Path, text: str, image: bytes | None = None) -> list[Any]:
    path = _files(tmp_path, text, image)
    with pytest.raises(ScenarioInvalid) as caught:
        richmenus.validate([path], [text])
    return caught.value.errors


def test_more_than_20_areas_is_refused(tmp_path: Path) -> None:
    doc = yaml.safe_load(MENU)
    doc["areas"] = [{"bounds": {"x": i, "y": 0, "width": 10, "height": 10},
                     "action": {"type": "message", "text": "x"}} for i in range(21)]
    [issue] = _issues(tmp_path, yaml.safe_dump(doc, allow_unicode=True))
    assert issue.path == "areas" and "20" in issue.message


def test_bounds_outside_the_image_are_refused_with_their_line(tmp_path: Path) -> None:
    [issue] = _issues(tmp_path, MENU.replace("x: 1250, y: 0, width: 1250", "x: 1300, y: 0, width: 1250"))
    assert (issue.line, issue.path) == (11, "areas[1].bounds") and "outside" in issue.message


def test_bad_size_and_long_chat_bar_text_are_refused(tmp_path: Path) -> None:
    text = MENU.replace("height: 843}", "height: 2000}")
    text = text.replace("chat_bar_text: メニュー", "chat_bar_text: " + "メ" * 15)
    issues = _issues(tmp_path, text)
    assert {i.path for i in issues} == {"size", "chat_bar_text"}


def test_image_over_1mb_or_wrong_size_is_refused(tmp_path: Path) -> None:
    [big] = _issues(tmp_path, MENU, png(2500, 843) + b"\0" * (1024 * 1024))
    assert big.path == "image" and "1 MB" in big.message
    [wrong] = _issues(tmp_path, MENU, png(2500, 1686))
    assert wrong.line == 6 and "2500×1686" in wrong.message


def test_put_richmenu_multipart(client: FlaskClient, admin_headers: dict[str, str], sim: SimulatorHandle) -> None:
    answer = client.put("/admin/api/richmenus/main", headers=admin_headers, content_type="multipart/form-data",
                        data={"definition": (io.BytesIO(MENU.encode()), "main.yaml"),
                              "image": (io.BytesIO(png(2500, 843)), "main.png")})
    assert answer.status_code == 201, answer.json
    assert _state(sim)["aliases"]["main"] == answer.json["line_id"]
    listed = client.get("/admin/api/richmenus", headers=admin_headers).json
    assert [(m["id"], m["default"]) for m in listed] == [("main", True)]


def test_simulator_refuses_a_menu_object_against_the_openapi_spec(sim: SimulatorHandle) -> None:
    status, _, body = sim.api("POST", "/v2/bot/richmenu", {"size": {"width": "wide"}, "selected": False, "name": "x",
                                                           "chatBarText": "x", "areas": []}, token="test-token")
    assert status == 400 and body["details"][0]["property"] == "size.width"


def test_cli_load_and_list(app: Flask, sim: SimulatorHandle, tmp_path: Path, settings: Settings) -> None:
    path = _files(tmp_path)
    runner = app.test_cli_runner()
    loaded = runner.invoke(args=["richmenus", "load", path])
    assert loaded.exit_code == 0, loaded.output
    assert "created: main" in loaded.output
    assert "main" in runner.invoke(args=["richmenus", "list"]).output
    bad = runner.invoke(args=["richmenus", "validate", _files(tmp_path, MENU.replace("width: 2500,", "width: 3000,"))])
    assert bad.exit_code == 1 and "main.yaml:3" in bad.output
    with db.session() as session:
        assert session.scalar(sa.text("select count(*) from rich_menus")) == 1


def test_a_step_with_rich_menu_links_it_once_sent(app: Flask, sim: SimulatorHandle, tmp_path: Path) -> None:
    from datetime import timedelta

    from app.models.delivery import Delivery

    loaded = _load(app, _files(tmp_path))
    doc = scenario_doc()
    doc["steps"][0]["rich_menu"] = "main"
    with db.transaction() as session:
        add_scenario(session, doc)
        friend = add_friend(session, USER)
        enrollment = add_enrollment(session, friend, "welcome", step="tips")
        now = utcnow()
        for step in ("hello", "tips"):
            session.add(Delivery(enrollment_id=enrollment.id, friend_id=friend.id, scenario_id="welcome",
                                 step_id=step, retry_key=step, status="sent", due_at=now, sent_at=now))
    with app.app_context():
        from app.current import current_settings

        settings = current_settings()
        assert richmenus.link_sent_steps(settings, now - timedelta(seconds=1), now) == 1
        assert richmenus.link_sent_steps(settings, now - timedelta(seconds=1), now) == 0  # already linked
    assert _state(sim)["links"] == {USER: loaded["line_id"]}
    with db.session() as session:
        assert rich_menu_of(session, friend_id(USER)) == "main"
