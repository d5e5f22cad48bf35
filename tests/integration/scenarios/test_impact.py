"""Impact first (SPEC §11): ``?dry_run=1`` answers what upload / publish / resume would do and
changes nothing; acting past the quota left answers 409 with the impact unless ``force=1``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models.base import utcnow
from app.models.delivery import Enrollment
from app.models.quota import QuotaMonth
from app.models.scenarios import Scenario
from app.quota.months import month_key

from .helpers import bulk_friends, doc, enrollments, scenario_row, text_of

# 19 friends, keyword-triggered, audience all: two steps due at once each (38), one a day later
KEYWORD_ALL = {"start": {"trigger": "keyword", "keywords": ["start"], "from": "trigger_time", "audience": "all"},
               "steps": [{"id": "a", "at": {"after": "0s"}, "messages": [{"text": "a"}]},
                         {"id": "b", "at": {"after": "0s"}, "messages": [{"text": "b"}]},
                         {"id": "c", "at": {"after": "1d"}, "messages": [{"text": "c"}]}]}


def _limit(limit: int, used: int = 0) -> None:
    """This month's quota of the default channel: ``limit`` with ``used`` already reserved."""
    with db.transaction() as session:
        session.add(QuotaMonth(channel="default", month=month_key(utcnow(), "Asia/Tokyo"), limit=limit,
                               reserved=used, external=0, exhausted=False))


def _put(client: FlaskClient, headers: dict[str, str], document: dict[str, Any], query: str = "") -> Any:
    return client.put(f"/admin/api/scenarios/{document['id']}{query}", data=text_of(document).encode(),
                      headers={**headers, "Content-Type": "application/yaml"})


def _scenario_count() -> int:
    with db.session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(Scenario)) or 0)


def test_upload_dry_run_answers_the_impact_and_stores_nothing(client: FlaskClient, admin_headers: dict[str, str],
                                                             app: Flask) -> None:
    bulk_friends(19)
    _limit(200, used=10)
    response = _put(client, admin_headers, doc(**KEYWORD_ALL), "?dry_run=1")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["would_enroll"], body["messages_due_now"], body["quota_left"]) == (19, 38, 190)
    assert body["dry_run"] is True and body["action"] == "created"
    assert _scenario_count() == 0 and enrollments() == []


def test_publish_dry_run_changes_nothing_and_the_act_matches_it(client: FlaskClient,
                                                               admin_headers: dict[str, str]) -> None:
    bulk_friends(19)
    assert _put(client, admin_headers, doc(status="draft", **KEYWORD_ALL)).status_code == 201
    dry = client.post("/admin/api/scenarios/welcome/publish?dry_run=1", headers=admin_headers).get_json()
    assert (dry["would_enroll"], dry["messages_due_now"], dry["quota_left"]) == (19, 38, None)
    assert dry["status_change"] == {"from": "draft", "to": "live"}
    assert scenario_row("welcome").status == "draft" and enrollments() == []
    done = client.post("/admin/api/scenarios/welcome/publish", headers=admin_headers).get_json()
    assert done["audience"] == {"enrolled": dry["would_enroll"]} and len(enrollments()) == 19


def test_publish_beyond_the_quota_left_is_409_with_the_impact(client: FlaskClient,
                                                             admin_headers: dict[str, str]) -> None:
    bulk_friends(19)
    _limit(200, used=170)  # 30 left, 38 due at once
    _put(client, admin_headers, doc(status="draft", **KEYWORD_ALL))
    response = client.post("/admin/api/scenarios/welcome/publish", headers=admin_headers)
    assert response.status_code == 409
    body = response.get_json()
    assert body["impact"] == {"would_enroll": 19, "messages_due_now": 38, "quota_left": 30}
    assert body["messages_due_now"] == 38 and "force=1" in body["error"]
    assert scenario_row("welcome").status == "draft" and enrollments() == []


def test_force_publishes_beyond_the_quota_left(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    bulk_friends(19)
    _limit(200, used=170)
    _put(client, admin_headers, doc(status="draft", **KEYWORD_ALL))
    response = client.post("/admin/api/scenarios/welcome/publish?force=1", headers=admin_headers)
    assert response.status_code == 200 and scenario_row("welcome").status == "live"
    assert len(enrollments("welcome")) == 19


def test_an_upload_that_publishes_beyond_the_quota_is_409_and_stores_nothing(
        client: FlaskClient, admin_headers: dict[str, str]) -> None:
    bulk_friends(19)
    _limit(200, used=170)
    response = _put(client, admin_headers, doc(**KEYWORD_ALL))
    assert response.status_code == 409 and response.get_json()["impact"]["messages_due_now"] == 38
    assert _scenario_count() == 0 and enrollments() == []
    assert _put(client, admin_headers, doc(**KEYWORD_ALL), "?force=1").status_code == 201


def test_an_upload_that_moves_a_live_scenario_back_to_draft_says_so(client: FlaskClient,
                                                                    admin_headers: dict[str, str]) -> None:
    _put(client, admin_headers, doc())
    dry = _put(client, admin_headers, doc(status="draft"), "?dry_run=1").get_json()
    assert dry["status_change"] == {"from": "live", "to": "draft"} and scenario_row("welcome").status == "live"
    body = _put(client, admin_headers, doc(status="draft")).get_json()
    assert body["status_change"] == {"from": "live", "to": "draft"}


def test_resume_dry_run_counts_the_friends_a_pause_held_back(client: FlaskClient,
                                                             admin_headers: dict[str, str]) -> None:
    bulk_friends(4)
    _put(client, admin_headers, doc(status="draft", **KEYWORD_ALL))
    client.post("/admin/api/scenarios/welcome/publish", headers=admin_headers)
    client.post("/admin/api/scenarios/welcome/pause", headers=admin_headers)
    dry = client.post("/admin/api/scenarios/welcome/resume?dry_run=1", headers=admin_headers).get_json()
    assert (dry["would_enroll"], dry["messages_due_now"]) == (0, 8)  # 4 friends at "a", "b" follows at once
    assert scenario_row("welcome").status == "paused"


def test_multi_file_dry_run_sums_the_documents(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    bulk_friends(3)
    files = [{"name": "a.yaml", "text": text_of(doc("one", **KEYWORD_ALL))},
             {"name": "b.yaml", "text": text_of(doc("two", **KEYWORD_ALL))}]
    body = client.post("/admin/api/scenarios?dry_run=1", json={"files": files}, headers=admin_headers).get_json()
    assert (body["would_enroll"], body["messages_due_now"]) == (6, 12)
    assert [item["scenario_id"] for item in body["scenarios"]] == ["one", "two"] and _scenario_count() == 0


def test_unknown_event_name_is_422_naming_the_known_events(client: FlaskClient, admin_headers: dict[str, str],
                                                            app: Flask) -> None:
    from .helpers import store_friend

    store_friend("U1")
    _put(client, admin_headers, doc("buyers", start={"trigger": "event:purchase", "from": "trigger_time"}))
    response = client.post("/admin/api/events", json={"user_id": "U1", "name": "purchse"}, headers=admin_headers)
    assert response.status_code == 422
    body = response.get_json()
    assert "did you mean 'purchase'?" in body["error"] and body["details"][0]["known_events"] == ["purchase"]
    ok = client.post("/admin/api/events", json={"user_id": "U1", "name": "purchase"}, headers=admin_headers)
    assert ok.status_code == 200 and ok.get_json()["enrolled"] == ["buyers"]


def test_enrollment_count_is_unchanged_by_dry_runs(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    bulk_friends(5)
    _put(client, admin_headers, doc(status="draft", **KEYWORD_ALL))
    for _ in range(2):
        client.post("/admin/api/scenarios/welcome/publish?dry_run=1", headers=admin_headers)
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Enrollment)) == 0


def test_documents_of_one_channel_pass_the_quota_guard_together(client: FlaskClient,
                                                                admin_headers: dict[str, str]) -> None:
    bulk_friends(10)
    _limit(200, used=170)  # 30 left: each document alone is due 20, both 40
    files = [{"name": "a.yaml", "text": text_of(doc("one", **KEYWORD_ALL))},
             {"name": "b.yaml", "text": text_of(doc("two", **KEYWORD_ALL))}]
    response = client.post("/admin/api/scenarios", json={"files": files}, headers=admin_headers)
    assert response.status_code == 409 and response.get_json()["messages_due_now"] == 40
    assert _scenario_count() == 0 and enrollments() == []


def test_a_filtered_audience_dry_run_counts_exactly_who_the_publish_enrolls(client: FlaskClient,
                                                                           admin_headers: dict[str, str]) -> None:
    bulk_friends(30, attributes=lambda i: {"plan": "gold" if i % 3 == 0 else "free"})
    document = doc(status="draft", filter={"attribute": "plan", "eq": "gold"},
                   start={"trigger": "follow", "from": "followed_at", "audience": "all"})
    _put(client, admin_headers, document)
    dry = client.post("/admin/api/scenarios/welcome/publish?dry_run=1", headers=admin_headers).get_json()
    assert dry["would_enroll"] == 10
    assert dry["messages_due_now"] == 30  # followed at T0, months ago: all three steps are overdue, due at once
    done = client.post("/admin/api/scenarios/welcome/publish", headers=admin_headers).get_json()
    assert done["audience"] == {"enrolled": 10}
