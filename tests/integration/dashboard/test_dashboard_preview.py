"""The scenario page's preview shows what the API's preview says: upload's checks on the stored
version (errors and warnings with their positions and suggestions) and every step that would be
skipped or moved, with its reason, next to the bubbles."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient

from app.models.base import utcnow
from app.services import scenarios as scenario_service

CAMPAIGN = """\
id: campaign
name: キャンペーン
status: draft
timezone: Asia/Tokyo
start: {trigger: follow}
end: "2026-05-08"
send_window: {days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
skip_holidays: true
rules:
  - when: {keyword: [vip]}
    do: [{enroll: vip-onboarding}]
steps:
  - id: hello
    at: {after: 0s}
    messages: [{text: "{display_name}さん、ようこそ"}]
  - id: plan
    at: {after: 2d}
    messages: [{text: "{attribute.plan}プランのご案内"}]
  - id: late
    at: {after: 10d}
    messages: [{text: "終了後のお知らせ"}]
"""
TARGET = """\
id: vip-onboarding
name: VIP
status: draft
timezone: Asia/Tokyo
start: {trigger: follow}
steps:
  - {id: a, at: {after: 0s}, messages: [{text: a}]}
"""


def _store(*files: tuple[str, str]) -> None:
    scenario_service.upload(list(files), utcnow())


def _preview(admin: FlaskClient, start: str) -> str:
    body = admin.get(f"/admin/scenarios/campaign?start={start}&display_name=さくら").get_data(as_text=True)
    return html.unescape(body[body.index('id="preview"'):])


def _row(preview: str, step_id: str) -> str:
    start = preview.index(f'<tr id="preview-{step_id}"')
    return preview[start:preview.index("</tr>", start)]


def test_preview_shows_the_upload_checks_of_the_stored_version(admin: FlaskClient) -> None:
    _store(("vip.yaml", TARGET), ("onboarding2.yaml", TARGET.replace("id: vip-onboarding", "id: vip-onboarding2")),
           ("campaign.yaml", CAMPAIGN))
    scenario_service.delete("vip-onboarding", utcnow())
    preview = _preview(admin, "2026-05-01T10:00")
    errors = preview[preview.index('id="preview-errors"'):preview.index('id="timeline"')]
    assert "1 error(s)" in errors
    assert re.search(r'campaign\.yaml:\d+:\d+</span>\s*<span class="mono path">rules\[0\]\.do\[0\]\.enroll</span>',
                     errors)
    assert "unknown scenario 'vip-onboarding'" in errors and "did you mean 'vip-onboarding2'?" in errors
    warnings = preview[preview.index('id="preview-warnings"'):preview.index('id="timeline"')]
    assert re.search(r'campaign\.yaml:\d+:\d+</span>\s*<span class="mono path">steps\[1\]\.messages\[0\]\.text</span>',
                     warnings)
    assert "no friend field defines attribute 'plan'" in warnings


def test_preview_marks_each_skipped_or_moved_step_with_its_reason(admin: FlaskClient) -> None:
    _store(("vip.yaml", TARGET), ("campaign.yaml", CAMPAIGN))
    preview = _preview(admin, "2026-05-01T07:00")  # a Friday morning, before Golden Week
    assert 'id="preview-errors"' not in preview
    hello, plan, late = (_row(preview, step) for step in ("hello", "plan", "late"))
    assert 'data-reason="send_window"' in hello and "moved by send window (originally 2026-05-01 07:00 JST)" in hello
    assert "2026-05-07 (Thu) 09:00:00 JST" in plan  # 3 May: Sunday; 4–6 May: holidays
    assert 'data-reason="holiday"' in plan and "moved by a holiday (originally 2026-05-03 07:00 JST)" in plan
    assert 'class="skipped-step"' in late and 'data-reason="after_end"' in late
    assert "skipped: due after the scenario ends (2026-05-09 00:00 JST)" in late
    assert "終了後のお知らせ" in late  # the bubble is still shown, greyed
    assert "skip-reason" not in hello + plan and 'data-reason="send_window"' in late
    assert "1 step(s) would not be sent" in preview
    assert "さくらさん、ようこそ" in hello


def test_preview_page_and_api_report_the_same_timeline(admin: FlaskClient, client: FlaskClient,
                                                       admin_headers: dict[str, str]) -> None:
    _store(("vip.yaml", TARGET), ("campaign.yaml", CAMPAIGN))
    report = client.get("/admin/api/scenarios/campaign/preview?start=2026-05-01T07:00:00%2B09:00",
                        headers=admin_headers).get_json()
    preview = _preview(admin, "2026-05-01T07:00")
    assert [(e["step_id"], e.get("moved_by"), e.get("skipped")) for e in report["timeline"]] == [
        ("hello", "send_window", None), ("plan", "holiday", None), ("late", "send_window", "after_end")]
    for entry in report["timeline"]:
        row = _row(preview, entry["step_id"])
        assert (f'data-reason="{entry.get("moved_by")}"' in row) == ("moved_by" in entry)
        assert (f'data-reason="{entry.get("skipped")}"' in row) == ("skipped" in entry)
