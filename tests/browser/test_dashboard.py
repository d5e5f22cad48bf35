"""The dashboard in a real browser: login, quota gauge, upload errors, pause/resume, retry."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from app.extensions import db
from app.models.delivery import Delivery
from tests.browser.seed import EXTERNAL, LIMIT, RESERVED, mark_scheduler_alive, seed, seed_activity
from tests.conftest import ADMIN_PASSWORD
from tests.integration.dashboard.conftest import INVALID_SCENARIO, VALID_SCENARIO

pytestmark = pytest.mark.browser


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def login(page: Any) -> None:
    page.goto("/admin/login?lang=en")  # the browser is Japanese; this walk-through reads English
    expect(page).to_have_url(re.compile(r"/admin/login"))
    page.fill("#password", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".flash-error")).to_contain_text("Wrong email or password")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin$"))


def test_operator_walks_through_the_dashboard(app: Flask, page: Any) -> None:
    seeded = seed(app.extensions["stepline"].quota_timezone)
    login(page)

    used = RESERVED + EXTERNAL
    quota = page.locator("#quota-default")
    expect(quota.locator(".gauge-percent")).to_have_text(f"{used * 100 / LIMIT:.1f}%")
    expect(quota.locator(".gauge-caption")).to_have_text(f"{used:,} / {LIMIT:,}")
    expect(quota.locator(".quota-used")).to_have_text(f"{used:,}")
    expect(quota.locator(".quota-limit")).to_have_text(f"{LIMIT:,}")
    expect(page.locator(".banner")).to_contain_text("80%")

    page.click("nav >> text=Scenarios")
    page.fill("textarea[name=source]", INVALID_SCENARIO)
    page.fill("input[name=source_name]", "welcome.yaml")
    page.click("text=Validate and upload")
    errors = page.locator("#upload-errors")
    expect(errors).to_contain_text("welcome.yaml:11:")
    expect(errors).to_contain_text("nickname")

    page.fill("textarea[name=source]", VALID_SCENARIO)
    page.click("text=Validate and upload")
    expect(page.locator("#impact-welcome")).to_be_visible()  # impact first, nothing stored yet
    page.click("text=Confirm and upload")
    expect(page.locator("#upload-result")).to_contain_text("created")
    row = page.locator("#scenario-welcome")
    expect(row.locator(".pill")).to_have_text("live")

    row.locator("button", has_text="Pause").click()
    expect(page.locator(".flash-success")).to_contain_text("now paused")
    expect(page.locator("#scenario-welcome .pill")).to_have_text("paused")
    page.locator("#scenario-welcome button", has_text="Resume").click()
    page.click("button:has-text('Confirm')")
    expect(page.locator("#scenario-welcome .pill")).to_have_text("live")

    seed_activity("welcome")
    page.reload()
    page.click("#scenario-welcome >> text=ウェルカム")
    page.fill("input[name=start]", "2026-11-02T09:30")
    page.fill("textarea[name=attributes]", "member=true")
    page.click("button:has-text('Preview')")
    expect(page.locator("#timeline")).to_contain_text("2026-11-03 (Tue) 10:00:00 JST")

    page.click("nav >> text=Failed deliveries")
    failed_row = page.locator(f"#delivery-{seeded.failed_delivery_id}")
    expect(failed_row).to_contain_text("The property, 'to', in the request body is invalid")
    failed_row.locator("button", has_text="Retry").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Delivery {seeded.failed_delivery_id} queued")
    expect(page.locator(f"#delivery-{seeded.failed_delivery_id}")).to_have_count(0)
    with db.session() as session:
        delivery = session.get(Delivery, seeded.failed_delivery_id)
        assert delivery is not None and delivery.status == "queued"

    page.click("nav >> text=Friends")
    page.select_option("select[name=k0]", "tag")  # the filter builder's first condition: tag is vip
    page.fill("input[name=n0]", "vip")
    page.select_option("select[name=o0]", "is")
    page.click("button:has-text('Search')")
    expect(page.locator("#friend-table")).to_contain_text("山田太郎")
    page.goto("/admin/friends")
    page.click("text=山田太郎")
    expect(page.locator(".timeline")).to_contain_text("welcome / thanks")

    mark_scheduler_alive()  # (test Redis is shared with other suites that flush it)
    page.click("nav >> text=Overview")  # again, now that a scenario has friends in flight (forecast)
    expect(page.locator("#quota-default .forecast")).to_contain_text("Forecast")

    page.click("button:has-text('Log out')")
    expect(page).to_have_url(re.compile(r"/admin/login"))
