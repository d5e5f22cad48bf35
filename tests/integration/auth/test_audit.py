"""The audit log (SPEC §7): every write through API, dashboard or CLI is recorded, read newest first
from ``GET /admin/api/audit`` (admins), never with secrets; pruned only past a year."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models.base import utcnow
from app.services import audit
from tests.integration.auth.conftest import PASSWORD, form_post
from tests.integration.dashboard.conftest import VALID_SCENARIO

Headers = Callable[[str], dict[str, str]]


def _log(client: FlaskClient, headers: dict[str, str], query: str = "") -> list[dict[str, object]]:
    response = client.get(f"/admin/api/audit{query}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    rows = response.get_json()
    assert isinstance(rows, list)
    return rows


def test_an_api_write_by_token_is_recorded_with_actor_action_target_and_address(
        client: FlaskClient, bearer: Headers) -> None:
    assert client.put("/admin/api/scenarios/welcome", data=VALID_SCENARIO, headers=bearer("admin"),
                      environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 201
    assert client.post("/admin/api/scenarios/welcome/pause?force=1", headers=bearer("admin")).status_code == 200
    rows = _log(client, bearer("admin"))
    assert [row["action"] for row in rows] == ["admin_api_scenarios.pause", "admin_api_scenarios.put_scenario"]
    newest, oldest = rows
    assert set(newest) >= {"at", "actor", "action", "target", "details"}
    assert newest["actor"] == "token:admin-ci" and newest["target"] == "welcome"
    assert newest["details"] == {"force": "1"}
    assert oldest["source"] == "192.0.2.7"


def test_a_dashboard_write_names_the_staff_member(client: FlaskClient, bearer: Headers,
                                                  logged_in: Callable[[str, str], FlaskClient]) -> None:
    owner = logged_in("boss@example.com", "owner")
    form_post(owner, "/admin/staff", {"email": "new@example.com", "role": "viewer", "password": PASSWORD})
    entry = _log(client, bearer("admin"), "?actor=boss@example.com")[0]
    assert entry["action"] == "dashboard.create_staff" and entry["target"] == "new@example.com"
    assert entry["details"] == {"role": "viewer", "invited": False}


def test_logins_are_recorded_and_reads_and_failures_are_not(client: FlaskClient, bearer: Headers,
                                                           logged_in: Callable[[str, str], FlaskClient]) -> None:
    viewer = logged_in("eyes@example.com", "viewer")
    viewer.get("/admin/friends")
    client.post("/admin/api/scenarios/nosuch/pause", headers=bearer("admin"))  # 404: nothing changed
    client.post("/admin/api/scenarios/nosuch/pause", headers=bearer("viewer"))  # 403
    rows = _log(client, bearer("admin"))
    assert [(row["actor"], row["action"]) for row in rows] == [("eyes@example.com", "dashboard.login")]


def test_no_secret_reaches_the_log(client: FlaskClient, bearer: Headers,
                                   logged_in: Callable[[str, str], FlaskClient]) -> None:
    owner = logged_in("boss@example.com", "owner")
    form_post(owner, "/admin/staff", {"email": "new@example.com", "role": "viewer", "password": PASSWORD})
    created = form_post(owner, "/admin/staff/new@example.com/tokens", {"name": "ci"})
    assert created.status_code == 201
    invite = form_post(owner, "/admin/staff/new@example.com/invite").get_data(as_text=True)
    secret_link = invite.split('/admin/invite/')[1].split("<")[0]
    text = client.get("/admin/api/audit", headers=bearer("admin")).get_data(as_text=True)
    assert PASSWORD not in text and secret_link not in text and "dashboard.create_token" in text


def test_audit_reads_need_the_admin_role(client: FlaskClient, bearer: Headers) -> None:
    assert client.get("/admin/api/audit", headers=bearer("operator")).status_code == 403
    assert client.get("/admin/api/audit").status_code == 401


def test_paging_goes_back_with_before_and_filters_by_actor(client: FlaskClient, bearer: Headers) -> None:
    for index in range(5):
        audit.record("a@example.com" if index % 2 else "b@example.com", "test.write", f"t{index}")
    first = _log(client, bearer("admin"), "?limit=2")
    assert [row["target"] for row in first] == ["t4", "t3"]
    second = _log(client, bearer("admin"), f"?limit=2&before={first[-1]['id']}")
    assert [row["target"] for row in second] == ["t2", "t1"]
    mine = _log(client, bearer("admin"), "?actor=a@example.com")
    assert [row["target"] for row in mine] == ["t3", "t1"]


@pytest.mark.parametrize("query", ["?limit=0", "?limit=abc", "?limit=100000", "?limit=-1", "?before=x",
                                   "?before=0", "?before=99999999999999999999999", "?limit=1.5"])
def test_bad_paging_values_answer_400(client: FlaskClient, bearer: Headers, query: str) -> None:
    response = client.get(f"/admin/api/audit{query}", headers=bearer("admin"))
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("bad ")


def test_the_dashboard_audit_page_lists_entries_for_admins(logged_in: Callable[[str, str], FlaskClient]) -> None:
    audit.record("ops@example.com", "dashboard.retry", "42", {"status": "failed"})
    admin = logged_in("chief@example.com", "admin")
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "dashboard.retry" in page and "ops@example.com" in page
    operator = logged_in("ops2@example.com", "operator")
    assert operator.get("/admin/audit").status_code == 403
    assert "/admin/audit" not in operator.get("/admin/friends").get_data(as_text=True)


def test_cli_writes_are_recorded_with_actor_cli(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    path = tmp_path / "welcome.yaml"
    path.write_text(VALID_SCENARIO, encoding="utf-8")
    assert runner.invoke(args=["scenarios", "load", str(path), "--yes"]).exit_code == 0
    assert runner.invoke(args=["scenarios", "pause", "welcome"]).exit_code == 0
    assert runner.invoke(args=["staff", "create", "x@example.com", "--role", "viewer", "--password-stdin"],
                         input=PASSWORD + "\n").exit_code == 0
    rows = audit.entries()
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [
        ("cli", "staff.create", "x@example.com"), ("cli", "scenarios.pause", "welcome"),
        ("cli", "scenarios.load", "welcome")]


def test_prune_removes_entries_older_than_the_days_given_and_keeps_a_year(app: Flask) -> None:
    with db.transaction() as session:
        audit.add_entry(session, "cli", "old.write", at=utcnow() - timedelta(days=800))
        audit.add_entry(session, "cli", "recent.write", at=utcnow() - timedelta(days=300))
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["audit", "prune", "--older-than", "30"])
    assert refused.exit_code != 0 and "365" in refused.output
    done = runner.invoke(args=["audit", "prune", "--older-than", "400"])
    assert done.exit_code == 0 and "1 audit entries" in done.output
    assert [row["action"] for row in audit.entries()] == ["audit.prune", "recent.write"]


def test_a_dashboard_action_that_failed_says_so_in_its_record(client: FlaskClient, bearer: Headers,
                                                              logged_in: Callable[[str, str], FlaskClient]) -> None:
    operator = logged_in("ops@example.com", "operator")
    assert form_post(operator, "/admin/deliveries/999999/retry").status_code == 302
    entry = _log(client, bearer("admin"), "?actor=ops@example.com")[0]
    assert entry["action"] == "dashboard.retry" and entry["target"] == "999999"
    assert "error" in entry["details"]


def test_an_export_is_recorded_with_its_reason_though_it_only_reads(app: Flask, bearer: Headers) -> None:
    from flask import jsonify

    from app.admin.auth import audit_note, requires

    @requires("export")
    def export_friends() -> object:
        audit_note(rows=2)
        return jsonify(rows=[1, 2])

    app.add_url_rule("/admin/api/test-export", "test_export", export_friends)
    client = app.test_client()
    assert client.get("/admin/api/test-export?reason=campaign", headers=bearer("admin")).status_code == 403
    assert client.get("/admin/api/test-export?reason=campaign", headers=bearer("owner")).status_code == 200
    entry = _log(client, bearer("admin"))[0]
    assert (entry["actor"], entry["action"]) == ("token:owner-ci", "test_export")
    assert entry["details"] == {"rows": 2, "reason": "campaign"}
