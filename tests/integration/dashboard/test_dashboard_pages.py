"""Dashboard pages render real data: quota, pipeline, scenarios, failures, friends."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db, redis_handle
from app.heartbeat import SCHEDULER_HEARTBEAT_KEY
from app.models.base import utcnow
from app.models.events import WebhookEvent
from app.models.quota import QuotaDay, QuotaMonth
from tests.integration.dashboard.conftest import (
    VALID_SCENARIO,
    make_delivery,
    make_enrollment,
    make_friend,
    this_month,
)


def seed_quota(app: Flask, *, limit: int = 1000, reserved: int = 850, external: int = 0) -> str:
    month = this_month(app)
    with db.transaction() as session:
        session.add(QuotaMonth(channel="default", month=month, limit=limit, reserved=reserved, external=external))
        session.add_all(QuotaDay(channel="default", day=f"{month}-{day:02d}", sent=100) for day in (1, 2))
    return month


def test_overview_shows_the_quota_gauge_with_used_limit_and_percent(app: Flask, admin: FlaskClient) -> None:
    seed_quota(app, limit=1000, reserved=850)
    body = admin.get("/admin").get_data(as_text=True)
    assert 'class="gauge gauge-warn"' in body
    assert "85.0%" in body and "850 / 1,000" in body
    assert "80% alert" in body  # banner
    assert 'class="limit-line"' in body and 'class="bar-day"' in body


def test_overview_marks_an_exhausted_channel(app: Flask, admin: FlaskClient) -> None:
    with db.transaction() as session:
        session.add(QuotaMonth(channel="default", month=this_month(app), limit=200, reserved=120, exhausted=True))
    body = admin.get("/admin").get_data(as_text=True)
    assert "gauge-full" in body and "Exhausted" in body and "100% alert" in body


def test_overview_shows_the_pipeline_counts(app: Flask, admin: FlaskClient) -> None:
    friend = make_friend()
    with db.transaction() as session:
        session.add(_scenario_row())
    make_enrollment(friend, "welcome", next_run_at=utcnow() - timedelta(minutes=1))
    for status in ("queued", "queued", "held", "failed"):
        make_delivery(friend, status=status, step_id=f"s-{status}-{id(status)}-{utcnow().timestamp()}")
    body = admin.get("/admin").get_data(as_text=True)
    for label, value in (("Due now", 1), ("Queued", 2), ("Held (quota)", 1), ("Failed 24 h", 1)):
        assert f'<span class="stat-value">{value}</span><span class="stat-label">{label}</span>' in body


def test_overview_shows_queues_workers_heartbeat_and_webhook_rate(app: Flask, admin: FlaskClient) -> None:
    redis_handle.client.set(SCHEDULER_HEARTBEAT_KEY, f"{datetime.now(UTC).timestamp() - 3:.3f}")
    with db.transaction() as session:
        for i in range(3):
            session.add(WebhookEvent(webhook_event_id=f"ev-{i}", channel="default", type="message",
                                     timestamp=utcnow(), payload={}, received_at=utcnow()))
    body = admin.get("/admin").get_data(as_text=True)
    assert re.search(r"Scheduler tick [3-9]s ago", body), re.findall(r"Scheduler[^<]*", body)
    assert "<td>deliveries</td>" in body and "No RQ workers running." in body
    assert "total 3," in body


def _scenario_row() -> Any:
    from app.models.scenarios import Scenario

    return Scenario(id="welcome", name="ウェルカム", status="live")


def test_scenarios_table_lists_uploaded_scenarios_with_pause_button(post: Callable[..., Any],
                                                                   admin: FlaskClient) -> None:
    form = {"source": VALID_SCENARIO, "source_name": "welcome.yaml", "confirm": "1"}
    assert post("/admin/scenarios/upload", form).status_code == 200
    body = admin.get("/admin/scenarios").get_data(as_text=True)
    assert "ウェルカム" in body and 'action="/admin/scenarios/welcome/pause"' in body
    assert 'name="csrf_token"' in body


def test_scenario_page_shows_step_stats_and_a_preview_timeline(post: Callable[..., Any], admin: FlaskClient) -> None:
    post("/admin/scenarios/upload", {"source": VALID_SCENARIO, "source_name": "welcome.yaml", "confirm": "1"})
    friend = make_friend()
    make_delivery(friend, status="sent", error=None, step_id="thanks")
    body = admin.get("/admin/scenarios/welcome?start=2026-11-02T09:30").get_data(as_text=True)
    assert 'id="step-table"' in body and "thanks" in body and "Block rate" in body
    assert "2026-11-02 (Mon) 09:30:00" in body  # step thanks, local time
    assert "2026-11-03 (Tue) 10:00:00" in body  # step tips: day 1 at 10:00
    assert "2026-11-02 00:30:00" in body  # UTC


def test_preview_with_a_bad_start_shows_the_error(post: Callable[..., Any], admin: FlaskClient) -> None:
    post("/admin/scenarios/upload", {"source": VALID_SCENARIO, "source_name": "welcome.yaml", "confirm": "1"})
    body = admin.get("/admin/scenarios/welcome?start=yesterday").get_data(as_text=True)
    assert "start: expected an ISO 8601 date-time such as 2026-11-01T09:00:00+09:00, got &#39;yesterday&#39;" in body


def test_unknown_scenario_is_a_404_page(admin: FlaskClient) -> None:
    response = admin.get("/admin/scenarios/nope")
    assert response.status_code == 404 and "does not exist" in response.get_data(as_text=True)


def test_failed_deliveries_show_lines_error_friend_step_and_retry(admin: FlaskClient) -> None:
    friend = make_friend("佐藤花子")
    delivery = make_delivery(friend, attempts=3)
    make_delivery(friend, status="sent", error=None, step_id="tips")
    body = admin.get("/admin/deliveries?status=failed").get_data(as_text=True)
    assert "The property, &#39;to&#39;, in the request body is invalid" in body
    assert "佐藤花子" in body and "welcome</a> / <span class=\"mono\">thanks" in body
    assert f'action="/admin/deliveries/{delivery}/retry"' in body
    assert body.count("/retry\"") == 1  # the sent one is not listed


def test_sent_deliveries_are_listed_by_send_time_newest_first(admin: FlaskClient) -> None:
    friend = make_friend("Sent Friend")
    now = utcnow()
    make_delivery(friend, status="sent", error=None, step_id="early-due-sent-last", due_at=now - timedelta(days=2),
                  sent_at=now - timedelta(minutes=1))
    make_delivery(friend, status="sent", error=None, step_id="late-due-sent-first", due_at=now - timedelta(hours=2),
                  sent_at=now - timedelta(hours=1))
    make_delivery(friend, status="skipped", error="friend blocked the account", step_id="skipped-one")
    body = admin.get("/admin/deliveries?status=sent").get_data(as_text=True)
    assert body.index("early-due-sent-last") < body.index("late-due-sent-first")
    assert "skipped-one" not in body
    assert "skipped-one" in admin.get("/admin/deliveries?status=skipped").get_data(as_text=True)


def test_deliveries_rejects_an_unknown_status(admin: FlaskClient) -> None:
    assert admin.get("/admin/deliveries?status=bogus").status_code == 400


def test_friends_search_by_name_user_id_tag_attribute_and_status(admin: FlaskClient) -> None:
    make_friend("山田太郎", user_id="Uaaa111", tags=("vip",), attributes={"member": True, "plan": "gold"})
    make_friend("鈴木一郎", user_id="Ubbb222", status="blocked", attributes={"member": False})
    make_friend("Tanaka_50%", user_id="Uccc333")

    def names(query: str) -> set[str]:
        body = admin.get(f"/admin/friends?{query}").get_data(as_text=True)
        return {name for name in ("山田太郎", "鈴木一郎", "Tanaka_50%") if f">{name}</a>" in body}

    assert names("") == {"山田太郎", "鈴木一郎", "Tanaka_50%"}
    assert names("q=山田") == {"山田太郎"}
    assert names("q=Ubbb222") == {"鈴木一郎"}  # an exact user id (SPEC §8)
    assert names("q=_50%25") == {"Tanaka_50%"}
    assert names("q=_") == {"Tanaka_50%"}  # LIKE wildcards are literal
    assert names("tag=vip") == {"山田太郎"}
    assert names("attribute=member%3Dtrue") == {"山田太郎"}
    assert names("attribute=plan%3Dgold") == {"山田太郎"}
    assert names("status=blocked") == {"鈴木一郎"}


def test_friends_list_is_paginated(admin: FlaskClient) -> None:
    for i in range(105):
        make_friend(f"friend-{i:03d}")
    first = admin.get("/admin/friends").get_data(as_text=True)
    second = admin.get("/admin/friends?page=2").get_data(as_text=True)
    assert "Page 1 of 2" in first and first.count('class="strong"') == 100  # 100 a page (SPEC §8)
    assert second.count('class="strong"') == 5


def test_friend_page_shows_tags_attributes_enrollments_and_timeline(admin: FlaskClient) -> None:
    friend = make_friend("山田太郎", user_id="Uaaa111", tags=("vip",), attributes={"plan": "gold"})
    with db.transaction() as session:
        session.add(_scenario_row())
        session.add(WebhookEvent(webhook_event_id="ev-1", channel="default", type="message", user_id="Uaaa111",
                                 timestamp=utcnow(), payload={"message": {"type": "text", "text": "詳しく"}}))
    make_enrollment(friend, "welcome", next_run_at=utcnow() + timedelta(days=1))
    make_delivery(friend, status="sent", error=None)
    body = admin.get(f"/admin/friends/{friend}").get_data(as_text=True)
    assert '<span class="tag">vip</span>' in body and "plan=gold" in body
    assert "ウェルカム" in body  # enrollment's scenario name
    assert "詳しく" in body and "welcome / thanks" in body  # timeline: event and delivery


def test_unknown_friend_is_a_404_page(admin: FlaskClient) -> None:
    assert admin.get("/admin/friends/999999").status_code == 404
