"""Every dashboard page opens in Japanese on realistic data (staff, segments, fields, inbox, chat,
rule sets, audit, measurement), and, with STEPLINE_SCREENSHOTS=1 (``./stepline screenshots``),
leaves its picture in docs/screenshots/ for the README and docs."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models.base import utcnow
from app.models.conversations import Handoff
from app.models.delivery import Delivery
from app.models.friends import Friend
from app.models.measure import LinkClick
from app.services import fields, rulesets, segments, staff
from app.services import scenarios as scenario_service
from tests.browser.seed import seed, seed_activity
from tests.conftest import ADMIN_PASSWORD
from tests.integration.conversations.conftest import incoming
from tests.integration.dashboard.conftest import VALID_SCENARIO

pytestmark = pytest.mark.browser
RULES = Path(__file__).resolve().parents[2] / "rules" / "base.yaml"


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _seed_contacts() -> int:
    """Fields, segments, staff, a rule set, an open handoff, clicks and a route; the first friend's id."""
    now = utcnow()
    scenario_service.upload([("welcome.yaml", VALID_SCENARIO)], now)
    fields.put_field("plan", {"type": "choice", "label": "プラン", "choices": ["gold", "silver"]}, now)
    fields.put_field("member", {"type": "bool", "label": "会員"}, now)
    segments.put_segment("vip", {"name": "VIP のお客さま", "filter": {"tag": "vip"}}, now, with_count=False)
    segments.put_segment("gold-members", {"name": "ゴールド会員", "filter": {"all": [
        {"attribute": "plan", "eq": "gold"}, {"attribute": "member", "eq": True}]}}, now, with_count=False)
    rulesets.upload([("base.yaml", RULES.read_text(encoding="utf-8"))], now)
    seed_activity("welcome")
    with db.transaction() as session:
        friends = list(session.scalars(sa.select(Friend).order_by(Friend.id)))
        for i, friend in enumerate(friends):
            friend.route = ["instagram", "flyer", None][i % 3]
        session.add(Handoff(friend_id=friends[1].id, channel="default", note="返品の相談",
                            opened_at=now - timedelta(minutes=12)))
        sent = session.execute(sa.select(Delivery.id, Delivery.friend_id, Delivery.enrollment_id)
                               .where(Delivery.status == "sent")).all()
        for i, (delivery_id, friend_id, enrollment_id) in enumerate(sent[:5]):
            session.add(LinkClick(click_key=f"seed-{i}", delivery_id=delivery_id, enrollment_id=enrollment_id,
                                  friend_id=friend_id, scenario_id="welcome", step_id="thanks", link_index=0,
                                  url="https://example.com/shop", clicked_at=now - timedelta(hours=i)))
        first, user_id = friends[0].id, friends[0].user_id
    said = ((30, "こんにちは、注文した商品について質問です"), (29, "サイズを交換できますか？"), (28, "担当者"))
    for minutes, text in said:
        incoming(user_id, text=text, at=now - timedelta(minutes=minutes), now=now - timedelta(minutes=minutes))
    staff.create_staff("hanako@example.com", "operator", password="operator-pass-1", display_name="運用 花子")
    staff.create_staff("taro@example.com", "viewer", password="viewer-pass-12", display_name="閲覧 太郎")
    return first


def test_every_dashboard_page_opens_in_japanese(app: Flask, page: Any, screenshot: Any) -> None:
    seed(app.extensions["stepline"].quota_timezone)
    friend_id = _seed_contacts()

    page.goto("/admin/login")
    expect(page.locator("button[type=submit]")).to_have_text("ログイン")
    screenshot(page, "login")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin$"))

    pages = [
        ("/admin/segments", "segments", "ゴールド会員"),
        ("/admin/fields", "fields", "プラン"),
        ("/admin/inbox", "inbox", "返品の相談"),
        (f"/admin/friends/{friend_id}/chat", "chat", "サイズを交換できますか？"),
        (f"/admin/friends/{friend_id}", "friend-route", "instagram"),
        ("/admin/friends/import", "friends-import", "user_id"),
        ("/admin/rulesets", "rulesets", "基本の自動応答"),
        ("/admin/staff", "staff", "運用 花子"),
        ("/admin/audit", "audit", None),
        ("/admin/account", "account", "admin"),
    ]
    for path, name, text in pages:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        expect(page.locator("html")).to_have_attribute("lang", "ja")
        expect(page.locator("h1")).to_be_visible()
        if text is not None:
            expect(page.locator("body")).to_contain_text(text)
        screenshot(page, name)

    page.goto("/admin/scenarios/welcome")
    funnel = page.locator("#funnel")
    expect(funnel.locator("#measure-table")).to_contain_text("thanks")
    expect(funnel).to_contain_text("クリック")
    screenshot(page, "measurement", funnel)
