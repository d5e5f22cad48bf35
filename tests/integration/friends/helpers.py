"""Rows and requests for the friends API tests."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.conftest import ADMIN_TOKEN
from tests.integration.scenarios.helpers import T0, bulk_friends, store_friend

__all__ = ["AUTH", "T0", "store_friend", "bulk_friends", "put_field", "put_segment"]
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def put_field(client: FlaskClient, name: str, **body: Any) -> Any:
    response = client.put(f"/admin/api/fields/{name}", json=body, headers=AUTH)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def put_segment(client: FlaskClient, segment_id: str, filter_tree: Any, name: str = "a segment") -> Any:
    response = client.put(f"/admin/api/segments/{segment_id}", json={"name": name, "filter": filter_tree},
                          headers=AUTH)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()
