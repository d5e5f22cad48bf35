"""SPEC §12 on the dashboard: the upload form refuses documents over 256 KiB with 413, alias
bombs with 422; ids and page numbers past BIGINT are 404/400, never 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from app.limits import MAX_DOCUMENT_BYTES
from tests.integration.dashboard.conftest import VALID_SCENARIO
from tests.integration.scenarios.test_upload_limits import BILLION_LAUGHS

HUGE = str(2**64)


def test_upload_form_refuses_a_document_over_256_kib(post: Callable[..., Any]) -> None:
    source = VALID_SCENARIO + "#" + "x" * MAX_DOCUMENT_BYTES + "\n"
    response = post("/admin/scenarios/upload", {"source": source, "source_name": "big.yaml"})
    assert response.status_code == 413


def test_upload_form_answers_an_alias_bomb_with_422(post: Callable[..., Any]) -> None:
    response = post("/admin/scenarios/upload", {"source": BILLION_LAUGHS, "source_name": "bomb.yaml"})
    assert response.status_code == 422


def test_friend_id_past_bigint_is_404(admin: FlaskClient) -> None:
    assert admin.get(f"/admin/friends/{HUGE}").status_code == 404


def test_page_past_bigint_is_400(admin: FlaskClient) -> None:
    assert admin.get(f"/admin/friends?page={HUGE}").status_code == 400
    assert admin.get(f"/admin/deliveries?page={HUGE}").status_code == 400


def test_api_delivery_ids_past_bigint_are_404_or_400(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    assert client.post(f"/admin/api/deliveries/{HUGE}/retry", headers=admin_headers).status_code == 404
    assert client.get(f"/admin/api/deliveries?before={HUGE}", headers=admin_headers).status_code == 400
    assert client.get(f"/admin/api/deliveries?limit={HUGE}", headers=admin_headers).status_code == 400


def test_ids_just_past_a_32_bit_integer_are_404_on_both_databases(client: FlaskClient,
                                                                   admin_headers: dict[str, str]) -> None:
    # PostgreSQL's INTEGER ends at 2**31 - 1: found by schemathesis on PostgreSQL
    assert client.post(f"/admin/api/deliveries/{2**31}/retry", headers=admin_headers).status_code == 404
    assert client.post(f"/admin/api/deliveries/{2**31 - 1}/retry", headers=admin_headers).status_code == 404
    assert client.get(f"/admin/api/deliveries?before={2**31}", headers=admin_headers).status_code == 400


def test_a_nul_in_a_form_field_is_400_before_any_view_runs(post: Callable[..., Any]) -> None:
    response = post("/admin/scenarios/upload", {"source": VALID_SCENARIO.replace("name:", "name: a\x00b #"),
                                                 "source_name": "nul.yaml"})
    assert response.status_code == 400 and b"NUL (U+0000) in a form field" in response.data
