"""SPEC §2 admin HTTP API: bearer auth, upload answers, error shapes, preview, lifecycle, events."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from app.models.friends import FRIEND_BLOCKED

from .helpers import doc, enrollments, scenario_row, store_friend, text_of

Headers = dict[str, str]
YAML = "application/yaml"


def _put(client: FlaskClient, headers: Headers, document: dict[str, object], scenario_id: str | None = None,
         content_type: str = YAML):
    body = json.dumps(document) if "json" in content_type else text_of(document)
    return client.put(f"/admin/api/scenarios/{scenario_id or document['id']}", data=body.encode(),
                      headers={**headers, "Content-Type": content_type})


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
@pytest.mark.parametrize(("method", "path"), [("get", "/admin/api/scenarios"), ("put", "/admin/api/scenarios/x"),
                                              ("post", "/admin/api/scenarios/x/publish"), ("get", "/admin/api/schema"),
                                              ("post", "/admin/api/events")])
def test_api_needs_the_admin_token(client: FlaskClient, headers: Headers, method: str, path: str) -> None:
    response = getattr(client, method)(path, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "authentication required"


def test_put_creates_then_updates_with_impact(client: FlaskClient, admin_headers: Headers) -> None:
    created = _put(client, admin_headers, doc())
    assert created.status_code == 201
    body = created.get_json()
    assert (body["version"], body["changed"], body["scenario"]["status"]) == (1, True, "live")
    same = _put(client, admin_headers, doc(), content_type="application/json")
    assert same.status_code == 200 and same.get_json()["changed"] is False
    changed = _put(client, admin_headers, doc(steps=doc()["steps"][:2]))
    assert changed.status_code == 200
    assert changed.get_json()["impact"] == [{"step_id": "offer", "friends": 0, "change": "removed"}]
    assert changed.get_json()["version"] == 2


def test_put_with_mismatched_id_is_400_with_details(client: FlaskClient, admin_headers: Headers) -> None:
    response = _put(client, admin_headers, doc("other"), scenario_id="welcome")
    assert response.status_code == 400
    (detail,) = response.get_json()["details"]
    assert detail["path"] == "id" and detail["line"] == 1 and "other" in detail["message"]


def test_invalid_scenario_is_422_with_positions(client: FlaskClient, admin_headers: Headers) -> None:
    bad = doc(steps=[{"id": "a", "at": {"after": "soon"}, "messages": [{"text": "{nope}"}]}])
    response = _put(client, admin_headers, bad)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "scenario is invalid"
    paths = {d["path"] for d in body["details"]}
    assert paths == {"steps[0].at.after", "steps[0].messages[0].text"}
    assert all(set(d) == {"file", "line", "column", "path", "message"} and d["line"] for d in body["details"])


def test_multi_file_post_is_atomic(client: FlaskClient, admin_headers: Headers) -> None:
    files = [{"name": "a.yaml", "text": text_of(doc("a"))}, {"name": "b.yaml", "text": "id: b\nname: [oops"}]
    response = client.post("/admin/api/scenarios", json=files, headers=admin_headers)
    assert response.status_code == 422 and response.get_json()["details"][0]["file"] == "b.yaml"
    assert client.get("/admin/api/scenarios", headers=admin_headers).get_json()["scenarios"] == []
    files[1]["text"] = text_of(doc("b", status="draft"))
    ok = client.post("/admin/api/scenarios", json={"files": files}, headers=admin_headers)
    assert ok.status_code == 200
    assert [(s["scenario"]["id"], s["action"]) for s in ok.get_json()["scenarios"]] == [("a", "created"),
                                                                                       ("b", "created")]


def test_multipart_upload(client: FlaskClient, admin_headers: Headers) -> None:
    import io

    data = {"files": [(io.BytesIO(text_of(doc("m1")).encode()), "m1.yaml"),
                      (io.BytesIO(text_of(doc("m2")).encode()), "m2.yaml")]}
    response = client.post("/admin/api/scenarios", data=data, headers=admin_headers,
                           content_type="multipart/form-data")
    assert response.status_code == 200 and len(response.get_json()["scenarios"]) == 2


def test_list_and_show(client: FlaskClient, admin_headers: Headers) -> None:
    _put(client, admin_headers, doc())
    listed = client.get("/admin/api/scenarios", headers=admin_headers).get_json()["scenarios"]
    assert [(s["id"], s["status"], s["enrollments"]) for s in listed] == [("welcome", "live", {})]
    shown = client.get("/admin/api/scenarios/welcome", headers=admin_headers).get_json()
    assert shown["definition"]["id"] == "welcome" and shown["versions"][0]["version"] == 1
    assert "hello {display_name}" in shown["source"]
    assert client.get("/admin/api/scenarios/ghost", headers=admin_headers).status_code == 404


def test_preview_through_the_api(client: FlaskClient, admin_headers: Headers) -> None:
    _put(client, admin_headers, doc(timezone="Asia/Tokyo"))
    response = client.get("/admin/api/scenarios/welcome/preview",
                          query_string={"start": "2026-05-01T12:00:00+09:00",
                                        "attributes": json.dumps({"plan": "gold"})}, headers=admin_headers)
    assert response.status_code == 200
    timeline = response.get_json()["timeline"]
    assert [(t["step_id"], t["due_utc"], t["due_local"]) for t in timeline] == [
        ("hello", "2026-05-01T03:00:00+00:00", "2026-05-01T12:00:00+09:00"),
        ("tips", "2026-05-01T04:00:00+00:00", "2026-05-01T13:00:00+09:00"),
        ("offer", "2026-05-02T03:00:00+00:00", "2026-05-02T12:00:00+09:00"),
    ]
    assert timeline[0]["messages"] == [{"type": "text", "text": "hello "}]


@pytest.mark.parametrize("query", [{"start": "yesterday"}, {}, {"start": "2026-05-01T00:00:00Z", "attributes": "[1]"}])
def test_bad_preview_parameters_are_400(client: FlaskClient, admin_headers: Headers, query: dict[str, str]) -> None:
    _put(client, admin_headers, doc())
    response = client.get("/admin/api/scenarios/welcome/preview", query_string=query, headers=admin_headers)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] and body["details"]


def test_lifecycle_endpoints_and_conflicts(client: FlaskClient, admin_headers: Headers) -> None:
    _put(client, admin_headers, doc(status="draft"))
    base = "/admin/api/scenarios/welcome"
    assert client.post(f"{base}/pause", headers=admin_headers).status_code == 409
    assert client.post(f"{base}/publish", headers=admin_headers).get_json()["scenario"]["status"] == "live"
    assert client.post(f"{base}/pause", headers=admin_headers).get_json()["scenario"]["status"] == "paused"
    assert client.post(f"{base}/resume", headers=admin_headers).get_json()["scenario"]["status"] == "live"
    conflict = client.post(f"{base}/publish", headers=admin_headers)
    assert conflict.status_code == 409 and "live" in conflict.get_json()["error"]
    copy = client.post(f"{base}/duplicate", json={"id": "welcome-2"}, headers=admin_headers)
    assert copy.status_code == 201 and copy.get_json()["scenario"]["status"] == "draft"
    assert client.post(f"{base}/duplicate", json={"id": "welcome-2"}, headers=admin_headers).status_code == 409
    assert client.delete("/admin/api/scenarios/welcome-2", headers=admin_headers).get_json()["deleted"] == "welcome-2"


def test_manual_enroll_endpoint(client: FlaskClient, admin_headers: Headers) -> None:
    _put(client, admin_headers, doc(start={"trigger": "manual", "from": "trigger_time"}))
    store_friend("U1")
    store_friend("U2", status=FRIEND_BLOCKED)
    response = client.post("/admin/api/scenarios/welcome/enroll", json={"user_ids": ["U1", "U2", "U3"]},
                           headers=admin_headers)
    assert response.get_json() == {"enrolled": 1, "requested": 3}
    bad = client.post("/admin/api/scenarios/welcome/enroll", json={"user_ids": "U1"}, headers=admin_headers)
    assert bad.status_code == 400


def test_named_event_endpoint(client: FlaskClient, admin_headers: Headers) -> None:
    _put(client, admin_headers, doc(start={"trigger": "event:purchase", "from": "trigger_time"}))
    store_friend("U1")
    response = client.post("/admin/api/events", json={"user_id": "U1", "name": "purchase",
                                                      "at": "2026-05-01T03:30:00Z"}, headers=admin_headers)
    assert response.status_code == 200 and response.get_json() == {"enrolled": ["welcome"]}
    (enrollment,) = enrollments()
    assert enrollment.start_at.isoformat() == "2026-05-01T03:30:00+00:00"
    missing = client.post("/admin/api/events", json={"user_id": "U404", "name": "purchase"}, headers=admin_headers)
    assert missing.status_code == 404


def test_schema_endpoint(client: FlaskClient, admin_headers: Headers) -> None:
    schema = client.get("/admin/api/schema", headers=admin_headers).get_json()
    assert "steps" in schema["properties"]


def test_audience_all_publish_through_the_api_enrolls_existing_friends(client: FlaskClient,
                                                                        admin_headers: Headers) -> None:
    store_friend("U1")
    response = _put(client, admin_headers, doc(start={"audience": "all"}))
    assert response.get_json()["audience"] == {"enrolled": 1}
    assert scenario_row("welcome").published_at is not None
