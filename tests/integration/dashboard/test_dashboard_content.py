"""What the operator sees: chat bubbles, window-moved steps, sortable scenarios, scenario actions,
quota at risk, auto-refresh, zone labels and the deliveries list."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models.base import utcnow
from app.models.delivery import Delivery
from app.models.events import WebhookEvent
from app.models.quota import QuotaMonth
from app.models.scenarios import Scenario
from linesim.testing import SimulatorHandle
from tests.integration.dashboard.conftest import (
    VALID_SCENARIO,
    make_delivery,
    make_enrollment,
    make_friend,
    this_month,
)

RICH_SCENARIO = """\
id: rich
name: リッチ
status: draft
timezone: Asia/Tokyo
start: {trigger: follow}
send_window: {from: "09:00", to: "21:00"}
steps:
  - id: hello
    at: {after: 0s}
    messages:
      - text: "{display_name}さん、こんにちは"
        quick_reply:
          - {label: はい, text: はい}
          - {label: 詳しく, postback: more}
      - image: {url: "https://example.com/a.jpg", preview: "https://example.com/a-small.jpg"}
      - sticker: {package_id: "446", sticker_id: "1988"}
  - id: menu
    at: {after: 1h}
    messages:
      - buttons:
          title: メニュー
          text: どれにしますか
          actions:
            - {label: 予約する, uri: "https://example.com/book"}
            - {label: 相談する, postback: talk}
      - flex:
          alt_text: 今週のおすすめ
          contents:
            type: bubble
            body: {type: box, layout: vertical, contents: [{type: text, text: 春の新作}, {type: text, text: "3,980円"}]}
"""


def upload(post: Callable[..., Any], text: str, name: str) -> None:
    assert post("/admin/scenarios/upload", {"source": text, "source_name": name, "confirm": "1"}).status_code == 200


def test_step_table_shows_every_message_type_as_a_chat_bubble(post: Callable[..., Any], admin: FlaskClient) -> None:
    upload(post, RICH_SCENARIO, "rich.yaml")
    body = admin.get("/admin/scenarios/rich").get_data(as_text=True)
    steps = body[body.index('id="step-table"'):body.index('id="preview"')]
    assert '<div class="bubble bubble-text">{display_name}さん、こんにちは</div>' in steps
    assert re.search(r'class="quick-reply"[^>]*>はい</span>', steps)
    assert "https://example.com/a.jpg" in steps and "bubble-image" in steps
    assert "bubble-sticker" in steps and "446 / 1988" in steps
    assert '<div class="bubble-title">メニュー</div>' in steps and "予約する" in steps and "相談する" in steps
    assert "bubble-flex" in steps and "今週のおすすめ" in steps and "春の新作" in steps and "3,980円" in steps


def test_preview_marks_steps_the_send_window_moved_and_fills_the_name(post: Callable[..., Any],
                                                                       admin: FlaskClient) -> None:
    upload(post, RICH_SCENARIO, "rich.yaml")
    body = admin.get("/admin/scenarios/rich?start=2026-11-02T22:30&display_name=さくら").get_data(as_text=True)
    preview = body[body.index('id="timeline"'):]
    assert "moved by send window (originally 2026-11-02 22:30 JST)" in preview
    assert "2026-11-03 (Tue) 09:00:00 JST" in preview
    assert "さくらさん、こんにちは" in preview


def test_friend_timeline_shows_what_they_sent_and_what_they_got_as_bubbles(post: Callable[..., Any],
                                                                           admin: FlaskClient) -> None:
    upload(post, VALID_SCENARIO, "welcome.yaml")
    friend = make_friend("山田太郎", user_id="Ubbb222")
    with db.transaction() as session:
        session.add(WebhookEvent(webhook_event_id="ev-b", channel="default", type="message", user_id="Ubbb222",
                                 timestamp=utcnow(), payload={"message": {"type": "text", "text": "詳しく"}}))
    make_delivery(friend, status="sent", error=None, step_id="thanks", sent_at=utcnow())
    with db.transaction() as session:
        session.query(Delivery).update({Delivery.scenario_version: 1})
    body = admin.get(f"/admin/friends/{friend}").get_data(as_text=True)
    assert re.search(r'bubble-row bubble-friend">\s*<div class="bubble bubble-text">詳しく</div>', body)
    assert re.search(r'bubble-row bubble-bot">\s*<div class="bubble bubble-text">山田太郎さん、友だち追加', body)


def _second_scenario() -> str:
    return VALID_SCENARIO.replace("id: welcome", "id: another").replace("name: ウェルカム", "name: Another")


def _order(body: str) -> list[str]:
    return re.findall(r'<tr id="scenario-([a-z0-9-]+)"', body)


def test_scenarios_table_sorts_by_any_column_both_ways(post: Callable[..., Any], admin: FlaskClient) -> None:
    upload(post, VALID_SCENARIO, "welcome.yaml")
    upload(post, _second_scenario(), "another.yaml")
    friend = make_friend()
    make_enrollment(friend, "welcome", next_run_at=utcnow() + timedelta(hours=2))
    assert _order(admin.get("/admin/scenarios?sort=name").get_data(as_text=True)) == ["another", "welcome"]
    descending = admin.get("/admin/scenarios?sort=-name").get_data(as_text=True)
    assert _order(descending) == ["welcome", "another"]
    assert 'name="next" value="/admin/scenarios?sort=-name"' in descending  # pause/resume come back sorted
    assert _order(admin.get("/admin/scenarios?sort=-enrolled").get_data(as_text=True)) == ["welcome", "another"]
    assert _order(admin.get("/admin/scenarios?sort=enrolled").get_data(as_text=True)) == ["another", "welcome"]
    body = admin.get("/admin/scenarios?sort=bogus").get_data(as_text=True)
    assert _order(body) == ["another", "welcome"]  # unknown column: by name
    for column in ("status", "version", "active", "completed", "blocked", "sent", "replies", "goals", "next_send",
                   "updated"):
        assert f'data-sort="{column}"' in body
        assert admin.get(f"/admin/scenarios?sort=-{column}").status_code == 200


def test_scenarios_table_shows_next_send_and_last_updated_with_zone(post: Callable[..., Any],
                                                                    admin: FlaskClient) -> None:
    upload(post, VALID_SCENARIO, "welcome.yaml")
    make_enrollment(make_friend(), "welcome", next_run_at=utcnow() + timedelta(hours=2))
    body = admin.get("/admin/scenarios").get_data(as_text=True)
    row = body[body.index('id="scenario-welcome"'):]
    assert re.search(r'class="next-send small">\d{4}-\d\d-\d\d \d\d:\d\d JST<', row)
    assert "Last updated" in body


def test_source_page_shows_the_uploaded_text(post: Callable[..., Any], admin: FlaskClient) -> None:
    upload(post, VALID_SCENARIO, "welcome.yaml")
    body = admin.get("/admin/scenarios/welcome/source").get_data(as_text=True)
    assert "welcome.yaml" in body and "name: ウェルカム" in body and "使い方のコツ" in body


def test_duplicate_makes_a_draft_copy(post: Callable[..., Any], admin: FlaskClient) -> None:
    upload(post, VALID_SCENARIO, "welcome.yaml")
    answer = post("/admin/scenarios/welcome/duplicate", {"new_id": "welcome-2"})
    assert answer.headers["Location"].endswith("/admin/scenarios/welcome-2")
    with db.session() as session:
        copy = session.get(Scenario, "welcome-2")
        assert copy is not None and copy.status == "draft"


def test_delete_needs_the_confirmation_and_refuses_a_live_scenario(post: Callable[..., Any],
                                                                    admin: FlaskClient) -> None:
    upload(post, VALID_SCENARIO, "welcome.yaml")
    refused = post("/admin/scenarios/welcome/delete", {"confirm": "yes"}, follow_redirects=True)
    assert "Delete refused" in refused.get_data(as_text=True)
    post("/admin/scenarios/welcome/pause", {"next": "/admin/scenarios"})
    unticked = post("/admin/scenarios/welcome/delete", {}, follow_redirects=True)
    assert "Tick the confirmation box" in unticked.get_data(as_text=True)
    post("/admin/scenarios/welcome/delete", {"confirm": "yes"})
    with db.session() as session:
        assert session.get(Scenario, "welcome") is None


def test_a_scenario_in_error_can_be_published_from_the_dashboard(post: Callable[..., Any],
                                                                 admin: FlaskClient) -> None:
    upload(post, VALID_SCENARIO, "welcome.yaml")
    with db.transaction() as session:
        scenario = session.get(Scenario, "welcome")
        assert scenario is not None
        scenario.status, scenario.status_reason = "error", "a referenced scenario was deleted"
    assert 'action="/admin/scenarios/welcome/publish"' in admin.get("/admin/scenarios").get_data(as_text=True)
    post("/admin/scenarios/welcome/publish", {"next": "/admin/scenarios", "confirm": "1"})
    with db.session() as session:
        assert session.get(Scenario, "welcome").status == "live"  # type: ignore[union-attr]


@pytest.fixture()
def env(env: dict[str, str], sim: SimulatorHandle) -> Iterator[dict[str, str]]:
    yield {**env, "LINE_API_BASE_URL": sim.base_url}


def test_test_send_from_the_dashboard_pushes_and_reports(post: Callable[..., Any], sim: SimulatorHandle) -> None:
    upload(post, VALID_SCENARIO, "welcome.yaml")
    tester = "U" + "c" * 32
    sim.users(display_names={tester: "テスター"})
    page = post("/admin/scenarios/welcome/test-send", {"user_ids": tester, "step": "thanks"}, follow_redirects=True)
    assert "Test send: 1 sent, 0 failed, 0 held." in page.get_data(as_text=True)
    [recorded] = sim.deliveries(to=tester)
    assert recorded["messages"][0]["text"].startswith("テスターさん")


def test_deliveries_list_has_a_sent_at_column_and_held_page_does_not_light_failed(admin: FlaskClient) -> None:
    friend = make_friend()
    make_delivery(friend, status="sent", error=None, sent_at=utcnow())
    sent = admin.get("/admin/deliveries?status=sent").get_data(as_text=True)
    assert "<th>Sent at</th>" in sent and re.search(r'class="sent-at">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d JST<', sent)
    held = admin.get("/admin/deliveries?status=held").get_data(as_text=True)
    assert 'class="active">Failed deliveries' not in held
    assert "No held deliveries." in held and "🎉" not in held
    failed = admin.get("/admin/deliveries?status=failed").get_data(as_text=True)
    assert 'class="active">Failed deliveries' in failed


def test_overview_refreshes_itself_unless_turned_off(admin: FlaskClient) -> None:
    assert '<meta http-equiv="refresh" content="30">' in admin.get("/admin").get_data(as_text=True)
    off = admin.get("/admin?refresh=off").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in off and "auto-refresh off" in off


def _quota_at_risk(app: Flask, *, waiting: int) -> None:
    with db.transaction() as session:
        session.add(QuotaMonth(channel="default", month=this_month(app), limit=100, reserved=50, external=0))
    friend = make_friend()
    for _ in range(waiting):
        make_delivery(friend, status="queued", error=None, scenario_id="welcome")


def test_overview_marks_a_channel_whose_forecast_passes_the_limit(app: Flask, post: Callable[..., Any],
                                                                  admin: FlaskClient) -> None:
    upload(post, VALID_SCENARIO, "welcome.yaml")
    _quota_at_risk(app, waiting=60)
    body = admin.get("/admin").get_data(as_text=True)
    assert 'class="pill pill-risk quota-at-risk">At risk<' in body
    assert 'id="risk-default"' in body and "10 messages will not fit" in body
    assert re.search(r'id="forecast-default-welcome">.*ウェルカム.*<td class="num">60</td>', body)


def test_overview_within_the_limit_is_not_at_risk(app: Flask, admin: FlaskClient) -> None:
    _quota_at_risk(app, waiting=10)
    body = admin.get("/admin").get_data(as_text=True)
    assert "quota-at-risk" not in body and 'id="risk-default"' not in body


def test_metrics_expose_quota_at_risk(app: Flask, client: FlaskClient) -> None:
    _quota_at_risk(app, waiting=60)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'stepline_quota_at_risk{channel="default"} 1.0' in text


def test_friends_can_be_filtered_to_test_users(admin: FlaskClient) -> None:
    make_friend("本物の友だち")
    make_friend("テスト用", status="test")
    body = admin.get("/admin/friends?status=test").get_data(as_text=True)
    assert "テスト用" in body and "本物の友だち" not in body
