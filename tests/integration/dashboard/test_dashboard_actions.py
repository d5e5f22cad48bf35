"""Dashboard forms: upload (errors in place, success with impact), pause/resume, retry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from app.extensions import db
from app.models.delivery import Delivery
from app.models.scenarios import Scenario
from tests.integration.dashboard.conftest import INVALID_SCENARIO, VALID_SCENARIO, make_delivery, make_friend


def _status(scenario_id: str) -> str:
    with db.session() as session:
        scenario = session.get(Scenario, scenario_id)
        assert scenario is not None
        return scenario.status


def test_invalid_upload_shows_file_line_column_path_and_message(post: Callable[..., Any]) -> None:
    response = post("/admin/scenarios/upload", {"source": INVALID_SCENARIO, "source_name": "welcome.yaml"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Nothing was changed" in body
    assert "welcome.yaml:11:" in body and "steps[0].messages[0].text" in body and "nickname" in body
    assert "{nickname}" in body  # the pasted text is kept for fixing
    with db.session() as session:
        assert session.get(Scenario, "welcome") is None


def test_uploaded_file_is_accepted_and_reported(post: Callable[..., Any]) -> None:
    from io import BytesIO

    response = post("/admin/scenarios/upload",
                    {"files": (BytesIO(VALID_SCENARIO.encode()), "welcome.yaml"), "confirm": "1"},
                    content_type="multipart/form-data")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Upload accepted" in body
    assert ">created</span>" in body and "v1" in body
    assert _status("welcome") == "live"


def test_reupload_of_a_changed_scenario_is_a_new_version(post: Callable[..., Any]) -> None:
    post("/admin/scenarios/upload", {"source": VALID_SCENARIO, "source_name": "welcome.yaml", "confirm": "1"})
    changed = VALID_SCENARIO.replace("使い方のコツ", "使い方のコツ (改訂)")
    form = {"source": changed, "source_name": "welcome.yaml", "confirm": "1"}
    body = post("/admin/scenarios/upload", form).get_data(as_text=True)
    assert ">updated</span>" in body and "v2" in body


def test_empty_upload_asks_for_a_file(post: Callable[..., Any]) -> None:
    response = post("/admin/scenarios/upload", {"source": "  "})
    assert response.status_code == 400 and "Choose a file" in response.get_data(as_text=True)


def test_pause_and_resume_buttons_change_the_status(post: Callable[..., Any], admin: FlaskClient) -> None:
    post("/admin/scenarios/upload", {"source": VALID_SCENARIO, "source_name": "welcome.yaml", "confirm": "1"})
    response = post("/admin/scenarios/welcome/pause", {"next": "/admin/scenarios"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/scenarios"
    assert _status("welcome") == "paused"
    assert "welcome: pause done" in admin.get("/admin/scenarios").get_data(as_text=True)
    post("/admin/scenarios/welcome/resume", {"confirm": "1"})
    assert _status("welcome") == "live"


def test_pausing_a_paused_scenario_flashes_the_conflict(post: Callable[..., Any], admin: FlaskClient) -> None:
    post("/admin/scenarios/upload", {"source": VALID_SCENARIO, "source_name": "welcome.yaml", "confirm": "1"})
    post("/admin/scenarios/welcome/pause")
    post("/admin/scenarios/welcome/pause")
    assert "flash-error" in admin.get("/admin/scenarios").get_data(as_text=True)
    assert _status("welcome") == "paused"


def test_unknown_lifecycle_action_is_404(post: Callable[..., Any]) -> None:
    assert post("/admin/scenarios/welcome/explode").status_code == 404


def test_retry_button_queues_a_failed_delivery(post: Callable[..., Any], admin: FlaskClient) -> None:
    delivery_id = make_delivery(make_friend())
    response = post(f"/admin/deliveries/{delivery_id}/retry", {"status": "failed"})
    assert response.status_code == 302
    with db.session() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.status == "queued"
    assert f"Delivery {delivery_id} queued" in admin.get("/admin/deliveries").get_data(as_text=True)


def test_retry_of_a_sent_delivery_is_refused(post: Callable[..., Any], admin: FlaskClient) -> None:
    delivery_id = make_delivery(make_friend(), status="sent", error=None)
    post(f"/admin/deliveries/{delivery_id}/retry")
    with db.session() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.status == "sent"
    assert "flash-error" in admin.get("/admin/deliveries").get_data(as_text=True)
