"""The dashboard in Japanese in a real browser: language switch, chat bubbles, sorting; and the
README's screenshots (STEPLINE_SCREENSHOTS=1), taken in Japanese so the fonts show."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models.base import utcnow
from app.models.delivery import Delivery
from app.models.friends import Friend
from app.services import scenarios as scenario_service
from tests.browser.seed import mark_scheduler_alive, seed, seed_activity
from tests.conftest import ADMIN_PASSWORD
from tests.integration.dashboard.conftest import VALID_SCENARIO
from tests.integration.dashboard.test_dashboard_content import RICH_SCENARIO
from tests.integration.dashboard.test_dashboard_preview import CAMPAIGN, TARGET

pytestmark = pytest.mark.browser


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _upload(*files: tuple[str, str]) -> None:
    scenario_service.upload(list(files), utcnow())


def _queue_held_deliveries(count: int) -> None:
    """Held deliveries waiting for quota: the forecast counts them, so the month passes its limit."""
    now = utcnow()
    with db.transaction() as session:
        friend_id = session.scalars(sa.select(Friend.id).order_by(Friend.id)).first()
        session.execute(sa.insert(Delivery), [
            {"friend_id": friend_id, "scenario_id": "welcome", "step_id": "tips", "status": "held",
             "retry_key": str(uuid.uuid4()), "due_at": now, "attempts": 0} for _ in range(count)])


def _row_ids(page: Any) -> list[str]:
    return [row.get_attribute("id") for row in page.locator("#scenario-table tbody tr").all()]


def test_operator_uses_the_dashboard_in_japanese(app: Flask, page: Any, screenshot: Any) -> None:
    seeded = seed(app.extensions["stepline"].quota_timezone)
    _upload(("welcome.yaml", VALID_SCENARIO), ("rich.yaml", RICH_SCENARIO.replace("status: draft", "status: live")))
    seed_activity("welcome")

    page.goto("/admin")  # a ja-JP browser without a cookie: Japanese
    expect(page.locator("button[type=submit]")).to_have_text("ログイン")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin$"))
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("nav.nav")).to_contain_text("配信失敗")
    expect(page.locator("#quota-default h2")).to_contain_text("メッセージ通数")

    page.click(".lang-switch >> text=English")
    expect(page.locator("nav.nav")).to_contain_text("Failed deliveries")
    page.click("nav.nav >> text=Scenarios")  # the choice sticks (cookie) on the next page
    expect(page.locator("h1")).to_have_text("Scenarios")
    page.click(".lang-switch >> text=日本語")
    expect(page.locator("h1")).to_have_text("シナリオ")

    expect(page.locator("#scenario-rich .pill")).to_have_text("配信中")
    assert _row_ids(page) == ["scenario-welcome", "scenario-rich"]  # by name: ウェルカム before リッチ
    page.click("#scenario-table th >> a[data-sort=enrolled]")
    expect(page).to_have_url(re.compile(r"sort=enrolled"))
    assert _row_ids(page) == ["scenario-rich", "scenario-welcome"]
    page.click("#scenario-table th >> a[data-sort=enrolled]")  # again: descending
    expect(page).to_have_url(re.compile(r"sort=-enrolled"))
    assert _row_ids(page) == ["scenario-welcome", "scenario-rich"]
    screenshot(page, "scenarios")

    page.click("#scenario-rich >> text=リッチ")
    steps = page.locator("#step-table")
    expect(steps.locator(".bubble-text").first).to_have_text("{display_name}さん、こんにちは")
    expect(steps.locator(".quick-reply").first).to_be_visible()
    expect(steps.locator(".bubble-image")).to_be_visible()
    expect(steps.locator(".sticker-face")).to_be_visible()
    expect(steps.locator(".bubble-template .bubble-button")).to_have_count(2)
    expect(steps.locator(".bubble-flex")).to_contain_text("春の新作")
    page.fill("input[name=start]", "2026-11-02T22:30")
    page.fill("input[name=display_name]", "さくら")
    page.click("#preview button:has-text('プレビュー')")
    preview = page.locator("#timeline")
    expect(preview.locator(".moved").first).to_contain_text("配信時間帯により移動")
    expect(preview.locator(".bubble-text").first).to_have_text("さくらさん、こんにちは")
    box = preview.locator(".bubble-text").first.bounding_box()
    assert box is not None and box["width"] > 40 and box["height"] > 16  # a real bubble, not collapsed
    screenshot(page, "scenario-detail")

    # the preview of a version upload would refuse today, with steps moved and skipped
    _upload(("vip.yaml", TARGET), ("onboarding2.yaml", TARGET.replace("id: vip-onboarding", "id: vip-onboarding2")),
            ("campaign.yaml", CAMPAIGN))
    scenario_service.delete("vip-onboarding", utcnow())
    page.goto("/admin/scenarios/campaign")
    page.fill("input[name=start]", "2026-05-01T07:00")
    page.fill("input[name=display_name]", "さくら")
    page.click("#preview button:has-text('プレビュー')")
    expect(page.locator("#preview-errors")).to_contain_text("エラー 1 件")
    expect(page.locator("#preview-errors")).to_contain_text("did you mean 'vip-onboarding2'?")
    expect(page.locator("#preview-warnings .path")).to_have_text("steps[1].messages[0].text")
    expect(page.locator("#preview-hello .moved")).to_contain_text("配信時間帯により移動")
    expect(page.locator("#preview-plan .moved")).to_contain_text("休日により移動")
    late = page.locator("#preview-late")
    expect(late).to_have_class(re.compile("skipped-step"))
    expect(late.locator(".skip-reason")).to_contain_text("配信しません：シナリオ終了（2026-05-09 00:00 JST）後の予定")
    expect(late.locator(".bubble-text")).to_have_text("終了後のお知らせ")  # the bubble stays, greyed
    expect(page.locator("#preview-skipped")).to_contain_text("1 件のステップは配信されません")
    page.locator("#preview").scroll_into_view_if_needed()
    screenshot(page, "scenario-preview")

    page.click("nav.nav >> text=配信失敗")
    expect(page.locator(f"#delivery-{seeded.failed_delivery_id}")).to_contain_text("The property, 'to'")
    expect(page.locator("#delivery-table thead")).to_contain_text("配信日時")
    screenshot(page, "failed-deliveries")
    page.click(".tabs >> a[data-status=held]")
    expect(page.locator("nav.nav a.active")).to_have_count(0)  # "配信失敗" is not lit on the held list

    page.click("nav.nav >> text=友だち")
    expect(page.locator("#friend-table")).to_contain_text("山田太郎")
    screenshot(page, "friends")
    page.click("text=山田太郎")
    expect(page.locator(".timeline .bubble-bot .bubble-text").first).to_contain_text("山田太郎さん")
    expect(page.locator(".timeline .bubble-friend .bubble-text").first).to_have_text("詳しく")
    screenshot(page, "friend")

    _queue_held_deliveries(1200)
    mark_scheduler_alive()
    page.click("nav.nav >> text=概要")
    expect(page.locator("#quota-default .forecast")).to_contain_text("予測")
    expect(page.locator("#quota-default .forecast-by-scenario")).to_contain_text("ウェルカム")
    expect(page.locator("#quota-default .quota-at-risk")).to_have_text("上限超過の恐れ")
    expect(page.locator("#risk-default")).to_contain_text("通が上限を超えます")
    screenshot(page, "overview")
