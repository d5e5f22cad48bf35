"""schemathesis against the admin API's own OpenAPI document (GET /admin/api/openapi.json,
generated from the routes): no generated request, valid or not, may answer 5xx."""

from __future__ import annotations

from typing import Any

import schemathesis
from flask import Flask
from hypothesis import given, settings

from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_no_generated_request_is_a_server_error(app: Flask) -> None:
    schema = schemathesis.openapi.from_wsgi("/admin/api/openapi.json", app, headers=AUTH)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=max(4, settings.default.max_examples // 6))
        def call(case: Any) -> None:
            response = case.call(headers=AUTH)
            assert response.status_code < 500, (f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                                f"{response.text[:300]}")

        try:
            call()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them together
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)


def test_the_document_lists_every_admin_api_route(app: Flask) -> None:
    document = app.test_client().get("/admin/api/openapi.json", headers=AUTH).get_json()
    rules = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin/api/")}
    assert len(document["paths"]) == len(rules)
    assert document["paths"]["/admin/api/events"]["post"]["requestBody"]["content"]["application/json"][
        "schema"] == {"$ref": "#/components/schemas/NamedEventRequest"}
    assert "user_id" in document["components"]["schemas"]["NamedEventRequest"]["properties"]


def test_the_document_needs_the_viewer_role(app: Flask) -> None:
    assert app.test_client().get("/admin/api/openapi.json").status_code == 401
