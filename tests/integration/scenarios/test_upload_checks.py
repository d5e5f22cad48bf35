"""Upload refuses what validate refuses: other scenarios, channels; warnings travel with the answer."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from .helpers import doc, text_of


def _put(client: FlaskClient, headers: dict[str, str], document: dict[str, Any]) -> Any:
    return client.put(f"/admin/api/scenarios/{document['id']}", data=text_of(document).encode(),
                      headers={**headers, "Content-Type": "application/yaml"})


def test_upload_refuses_an_unknown_channel_with_a_suggestion(client: FlaskClient,
                                                              admin_headers: dict[str, str]) -> None:
    response = _put(client, admin_headers, doc(channel="shopp"))
    assert response.status_code == 422
    (issue,) = response.get_json()["details"]
    assert issue["path"] == "channel" and issue["line"] is not None
    assert "did you mean 'shop'?" in issue["message"]


def test_upload_refuses_an_unknown_enroll_target_with_a_suggestion(client: FlaskClient,
                                                                   admin_headers: dict[str, str]) -> None:
    _put(client, admin_headers, doc("vip-onboarding"))
    rules = [{"when": {"keyword": ["vip"]}, "do": [{"enroll": "vip-onbording"}]}]
    response = _put(client, admin_headers, doc("main", rules=rules))
    assert response.status_code == 422
    assert "did you mean 'vip-onboarding'?" in response.get_json()["details"][0]["message"]


def test_upload_answers_warnings_for_attributes_no_field_defines(client: FlaskClient,
                                                                 admin_headers: dict[str, str]) -> None:
    steps = [{"id": "a", "at": {"after": "0s"}, "messages": [{"text": "{attribute.plan|free}"}]}]
    response = _put(client, admin_headers, doc(steps=steps))
    assert response.status_code == 201
    (warning,) = response.get_json()["warnings"]
    assert warning["path"] == "steps[0].messages[0].text" and "'plan'" in warning["message"]


def test_field_lookup_hook_silences_warnings_for_defined_fields(client: FlaskClient, admin_headers: dict[str, str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from app.scenarios import known

    monkeypatch.setattr(known, "FIELD_LOOKUP", lambda session: lambda name: name == "plan")
    steps = [{"id": "a", "at": {"after": "0s"}, "messages": [{"text": "{attribute.plan} {attribute.other}"}]}]
    warnings = _put(client, admin_headers, doc(steps=steps)).get_json()["warnings"]
    assert [w["message"].split("'")[1] for w in warnings] == ["other"]


def test_segment_lookup_hook_refuses_unknown_segments(client: FlaskClient, admin_headers: dict[str, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from app.scenarios import known

    monkeypatch.setattr(known, "SEGMENT_LOOKUP", lambda session: lambda name: name == "vip")
    response = _put(client, admin_headers, doc(filter={"any": [{"segment": "vip"}, {"segment": "vipp"}]}))
    assert response.status_code == 422
    (issue,) = response.get_json()["details"]
    assert issue["path"] == "filter.any[1].segment" and "'vipp'" in issue["message"]


def test_preview_runs_the_upload_checks_on_the_stored_version(client: FlaskClient,
                                                              admin_headers: dict[str, str]) -> None:
    _put(client, admin_headers, doc("vip-onboarding", status="draft"))
    rules = [{"when": {"keyword": ["vip"]}, "do": [{"enroll": "vip-onboarding"}]}]
    _put(client, admin_headers, doc("main", rules=rules))
    client.delete("/admin/api/scenarios/vip-onboarding", headers=admin_headers)
    report = client.get("/admin/api/scenarios/main/preview?start=2026-05-01T09:00:00%2B09:00",
                        headers=admin_headers).get_json()
    (error,) = report["errors"]
    assert error["path"] == "rules[0].do[0].enroll" and "unknown scenario 'vip-onboarding'" in error["message"]
