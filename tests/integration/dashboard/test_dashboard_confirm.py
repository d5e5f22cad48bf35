"""The dashboard shows the impact and asks (a server-side confirm step) before uploading or publishing."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

from app.extensions import db
from app.models.scenarios import Scenario
from tests.integration.dashboard.conftest import VALID_SCENARIO


def _status(scenario_id: str) -> str | None:
    with db.session() as session:
        scenario = session.get(Scenario, scenario_id)
        return scenario.status if scenario else None


def _hidden(body: str, name: str) -> list[str]:
    return [unescape(v) for v in re.findall(rf'name="{name}" value="([^"]*)"', body)]


def test_upload_shows_the_impact_first_and_stores_nothing(post: Callable[..., Any]) -> None:
    response = post("/admin/scenarios/upload", {"source": VALID_SCENARIO, "source_name": "welcome.yaml"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="impact-welcome"' in body
    assert 'class="num would-enroll">0<' in body and "Confirm and upload" in body
    assert _status("welcome") is None


def test_the_confirm_step_carries_the_documents_and_stores_them(post: Callable[..., Any]) -> None:
    body = post("/admin/scenarios/upload", {"source": VALID_SCENARIO, "source_name": "welcome.yaml"}
                ).get_data(as_text=True)
    names, texts = _hidden(body, "confirm_file_name"), _hidden(body, "confirm_file_text")
    assert names == ["welcome.yaml"] and texts == [VALID_SCENARIO]
    done = post("/admin/scenarios/upload", {"confirm": "1", "confirm_file_name": names, "confirm_file_text": texts})
    assert done.status_code == 200 and "Upload accepted" in done.get_data(as_text=True)
    assert _status("welcome") == "live"


def test_a_status_change_is_shown_before_the_upload(post: Callable[..., Any]) -> None:
    post("/admin/scenarios/upload", {"source": VALID_SCENARIO, "source_name": "welcome.yaml", "confirm": "1"})
    draft = VALID_SCENARIO.replace("status: live", "status: draft")
    body = post("/admin/scenarios/upload", {"source": draft, "source_name": "welcome.yaml"}).get_data(as_text=True)
    assert 'id="status-changes"' in body and "live → <strong>draft</strong>" in body
    assert _status("welcome") == "live"


def test_resume_asks_first_then_acts_on_confirm(post: Callable[..., Any]) -> None:
    post("/admin/scenarios/upload", {"source": VALID_SCENARIO, "source_name": "welcome.yaml", "confirm": "1"})
    post("/admin/scenarios/welcome/pause")
    page = post("/admin/scenarios/welcome/resume")
    assert page.status_code == 200 and "paused → <strong>live</strong>" in page.get_data(as_text=True)
    assert _status("welcome") == "paused"
    assert post("/admin/scenarios/welcome/resume", {"confirm": "1"}).status_code == 302
    assert _status("welcome") == "live"
