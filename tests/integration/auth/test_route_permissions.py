"""Every /admin route declares a permission, and every role gets exactly what SPEC §7's table says.

The walk covers ``app.url_map``: a route added without ``@requires`` fails here, and a route of
this table answers 401/403/200-ish per role as the expected permission says.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import AnyConverter, FloatConverter, IntegerConverter, Rule, UUIDConverter

from app.admin.auth import PUBLIC_ENDPOINTS
from app.staff.roles import ROLES, allows

# SPEC §7: reads → viewer; test send, retries, events → operator; scenario writes → admin; staff → owner
EXPECTED = {
    "admin_api_scenarios.list_scenarios": "viewer", "admin_api_scenarios.get_scenario": "viewer",
    "admin_api_scenarios.preview": "viewer", "admin_api_scenarios.schema": "viewer",
    "admin_api_scenarios.put_scenario": "admin", "admin_api_scenarios.post_scenarios": "admin",
    "admin_api_scenarios.publish": "admin", "admin_api_scenarios.pause": "admin",
    "admin_api_scenarios.resume": "admin", "admin_api_scenarios.duplicate": "admin",
    "admin_api_scenarios.delete": "admin", "admin_api_scenarios.enroll": "admin",
    "admin_api_scenarios.named_event": "operator",
    "admin_api_delivery.test_send": "operator", "admin_api_delivery.retry": "operator",
    "admin_api_delivery.scenario_stats": "viewer", "admin_api_delivery.deliveries": "viewer",
    "admin_api_quota.quota_status": "viewer", "admin_api_quota.quota_forecast": "viewer",
    "admin_api_quota.quota_sync": "operator",
    "admin_api_audit.audit_log": "admin",
    "dashboard.overview": "viewer", "dashboard.scenarios": "viewer", "dashboard.scenario": "viewer",
    "dashboard.upload": "admin", "dashboard.lifecycle": "admin",
    "dashboard.deliveries": "viewer", "dashboard.retry": "operator",
    "dashboard.friends": "viewer", "dashboard.friend": "viewer",
    "dashboard.audit_log": "admin", "dashboard.account": "viewer", "dashboard.change_password": "viewer",
    "dashboard.logout_everywhere": "viewer",
    "dashboard.staff": "owner", "dashboard.create_staff": "owner", "dashboard.set_role": "owner",
    "dashboard.set_enabled": "owner", "dashboard.set_export": "owner", "dashboard.invite": "owner",
    "dashboard.set_password": "owner", "dashboard.create_token": "owner", "dashboard.revoke_token": "owner",
}
# the session owns these two: any logged-in (or not yet logged-in) visitor may use them
SESSION_ENDPOINTS = {"dashboard.logout"}


def admin_rules(app: Flask) -> list[tuple[Rule, str]]:
    rules = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint in PUBLIC_ENDPOINTS | SESSION_ENDPOINTS:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            rules.append((rule, method))
    return rules


def sample_path(app: Flask, rule: Rule, method: str) -> str:
    """The rule with arguments that name nothing existing but match its converters (so routing
    never answers 404 before the permission check): ints 999999, strings nosuch@example.com."""
    values: dict[str, object] = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter | FloatConverter):
            values[name] = 999999
        elif isinstance(converter, UUIDConverter):
            values[name] = uuid.UUID(int=0)
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]  # type: ignore[attr-defined]
        else:
            values[name] = "nosuch@example.com"
    return app.url_map.bind("localhost").build(rule.endpoint, values, method=method)


def needed(app: Flask, endpoint: str) -> str | None:
    return getattr(app.view_functions[endpoint], "required_permission", None)


def test_every_admin_route_declares_a_permission(app: Flask) -> None:
    missing = sorted({rule.endpoint for rule, _ in admin_rules(app) if needed(app, rule.endpoint) is None})
    assert not missing, f"admin routes without @requires(...): {missing}"


def test_the_routes_of_the_table_declare_the_permission_the_spec_gives(app: Flask) -> None:
    declared = {endpoint: needed(app, endpoint) for endpoint in EXPECTED if endpoint in app.view_functions}
    assert declared == {endpoint: EXPECTED[endpoint] for endpoint in declared}
    assert len(declared) == len(EXPECTED), set(EXPECTED) - set(declared)


def _call(client: FlaskClient, method: str, path: str, headers: dict[str, str]) -> int:
    kwargs: dict[str, object] = {"headers": headers}
    if method in {"POST", "PUT"}:
        kwargs["json"] = {}
    return client.open(path, method=method, **kwargs).status_code


def test_every_route_answers_each_role_as_its_permission_says(
        app: Flask, client: FlaskClient, bearer: Callable[[str], dict[str, str]]) -> None:
    table: list[tuple[str, str, str, int]] = []
    for rule, method in admin_rules(app):
        need = EXPECTED.get(rule.endpoint) or needed(app, rule.endpoint)
        assert need is not None, rule.endpoint
        path = sample_path(app, rule, method)
        api = path.startswith("/admin/api")
        table.append((method, path, "anonymous", _call(client, method, path, {})))
        for role in ROLES:
            table.append((method, path, role, _call(client, method, path, bearer(role))))
        for method_, path_, who, status in table[-5:]:
            if who == "anonymous":
                assert status == (401 if api else 302), (method_, path_, who, status)
            elif allows(who, who == "owner", need):
                assert status not in (401, 403) and status < 500, (method_, path_, who, status)
            else:
                assert status == 403, (method_, path_, who, status)
    assert len(table) >= 5 * len(EXPECTED)


def test_forbidden_names_the_role_it_needs(client: FlaskClient, bearer: Callable[[str], dict[str, str]]) -> None:
    response = client.post("/admin/api/scenarios/welcome/pause", headers=bearer("operator"))
    assert response.status_code == 403
    assert response.get_json() == {"error": "forbidden", "details": [{"needs": "admin"}]}


def test_unauthenticated_api_call_is_401_json(client: FlaskClient) -> None:
    response = client.get("/admin/api/scenarios")
    assert response.status_code == 401
    assert response.get_json()["error"] == "authentication required"


@pytest.mark.parametrize("role", ROLES)
def test_a_dashboard_session_only_reads_the_api(logged_in: Callable[[str, str], FlaskClient], role: str) -> None:
    client = logged_in(f"{role}-session@example.com", role)
    assert client.get("/admin/api/scenarios").status_code == 200
    assert client.post("/admin/api/scenarios/welcome/pause").status_code == 401


def test_a_revoked_token_is_refused_on_the_next_request(
        client: FlaskClient, role_tokens: dict[str, str]) -> None:
    from app.services import staff as staff_service

    headers = {"Authorization": f"Bearer {role_tokens['viewer']}"}
    assert client.get("/admin/api/scenarios", headers=headers).status_code == 200
    staff_service.revoke_token("viewer@example.com", "viewer-ci")
    assert client.get("/admin/api/scenarios", headers=headers).status_code == 401


def test_a_role_change_takes_effect_on_the_next_request(client: FlaskClient, role_tokens: dict[str, str]) -> None:
    from app.services import staff as staff_service

    headers = {"Authorization": f"Bearer {role_tokens['admin']}"}
    assert client.delete("/admin/api/scenarios/nosuch", headers=headers).status_code == 404
    staff_service.set_role("admin@example.com", "viewer")
    assert client.delete("/admin/api/scenarios/nosuch", headers=headers).status_code == 403


def test_the_admin_token_acts_as_the_owner(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    assert client.get("/admin/staff", headers=admin_headers).status_code == 200
    assert client.get("/admin/api/audit", headers=admin_headers).status_code == 200
