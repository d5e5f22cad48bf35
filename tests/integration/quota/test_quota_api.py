"""``/admin/api/quota``: status per channel, forecast, sync with LINE (the simulator over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.config import Settings, load_settings
from app.models.base import utcnow
from app.quota import tracker
from linesim.testing import SimulatorHandle
from tests.conftest import build_app
from tests.factories import in_tx
from tests.integration.quota.quota_rows import Rows


def test_quota_api_needs_the_admin_token(client: FlaskClient) -> None:
    assert client.get("/admin/api/quota").status_code == 401
    assert client.post("/admin/api/quota/sync").status_code == 401


def test_quota_status_per_configured_channel(client: FlaskClient, admin_headers: dict[str, str], rows: Rows) -> None:
    assert in_tx(tracker.reserve, "default", 4, utcnow())
    body = client.get("/admin/api/quota", headers=admin_headers).get_json()
    by_channel = {c["channel"]: c for c in body["channels"]}
    assert set(by_channel) == {"default", "shop"}
    default = by_channel["default"]
    assert (default["limit"], default["used"], default["remaining"], default["percent"]) == (5, 4, 1, 80.0)
    assert default["alerts"] == ["80"] and "over 80%" in default["banner"]
    assert by_channel["shop"]["used"] == 0 and by_channel["shop"]["banner"] is None


def test_forecast_api(client: FlaskClient, admin_headers: dict[str, str], rows: Rows) -> None:
    rows.delivery(due_at=utcnow(), status="held")
    body = client.get("/admin/api/quota/forecast?channel=default", headers=admin_headers).get_json()
    assert body["channel"] == "default" and body["limit"] == 5
    assert body["days"][0]["messages"] == 1 and body["month_total_projected"] == 1
    missing = client.get("/admin/api/quota/forecast?channel=nope", headers=admin_headers)
    assert missing.status_code == 404 and "nope" in missing.get_json()["error"]


@pytest.fixture()
def sim_client(env: dict[str, str], sim: SimulatorHandle, quota_app: Settings) -> Iterator[FlaskClient]:
    app: Flask = build_app(load_settings({**env, "LINE_API_BASE_URL": sim.base_url}, testing=True))
    yield app.test_client()


def test_sync_api_asks_line(sim_client: FlaskClient, admin_headers: dict[str, str], sim: SimulatorHandle) -> None:
    sim.config(quota_limit=1000, external_usage=12)
    sim.config(channel="shop", quota_limit=None)
    body = sim_client.post("/admin/api/quota/sync", headers=admin_headers).get_json()
    by_channel = {c["channel"]: c for c in body["channels"]}
    assert (by_channel["default"]["limit"], by_channel["default"]["external"]) == (1000, 12)
    assert by_channel["shop"]["limit"] is None and by_channel["shop"]["synced_at"]
    one = sim_client.post("/admin/api/quota/sync?channel=shop", headers=admin_headers).get_json()
    assert [c["channel"] for c in one["channels"]] == ["shop"]
