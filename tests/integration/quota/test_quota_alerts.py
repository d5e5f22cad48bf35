"""Alerts at 80 % and 100 %: logged, counted, shown; once per threshold per month."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import redis

from app.extensions import db
from app.metrics.recorder import QUOTA_ALERTS_KEY
from app.quota import tracker
from app.quota.alerts import banner_text, check_alerts
from tests.factories import in_tx
from tests.integration.quota.quota_rows import MID_MARCH


def _alert_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "quota alert" in r.getMessage()]


def test_alerts_fire_once_per_threshold_per_month(quota_app: object, redis_url: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="stepline.quota")
    for _ in range(3):
        assert in_tx(tracker.reserve, "default", 1, MID_MARCH)
    assert _alert_lines(caplog) == []
    assert in_tx(tracker.reserve, "default", 1, MID_MARCH)  # 4 of 5 = 80 %
    assert len(_alert_lines(caplog)) == 1 and "80%" in _alert_lines(caplog)[0]
    in_tx(tracker.release, "default", 1, MID_MARCH)
    assert in_tx(tracker.reserve, "default", 1, MID_MARCH)  # 80 % again: no second alert
    assert in_tx(tracker.reserve, "default", 1, MID_MARCH)  # 100 %
    assert len(_alert_lines(caplog)) == 2 and "100%" in _alert_lines(caplog)[1]
    with db.transaction() as session:
        assert check_alerts(session, "default", MID_MARCH) == []
        status = tracker.status(session, "default", MID_MARCH)
    assert status.alerts == ["80", "100"]
    counts = redis.Redis.from_url(redis_url).hgetall(QUOTA_ALERTS_KEY)
    assert counts == {b"default|80": b"1", b"default|100": b"1"}


def test_a_new_month_alerts_again(quota_app: object, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="stepline.quota")
    assert in_tx(tracker.reserve, "default", 5, MID_MARCH)
    next_month = MID_MARCH + timedelta(days=31)
    assert in_tx(tracker.reserve, "default", 5, next_month)
    assert len(_alert_lines(caplog)) == 4  # 80 and 100 in March, again in April
    with db.session() as session:
        assert tracker.status(session, "default", next_month).alerts == ["80", "100"]


def test_mark_exhausted_raises_the_100_percent_alert(quota_app: object) -> None:
    in_tx(tracker.mark_exhausted, "default", MID_MARCH)
    with db.session() as session:
        assert tracker.status(session, "default", MID_MARCH).alerts == ["80", "100"]


def test_the_banner_says_what_the_operator_must_know() -> None:
    assert banner_text("default", [], 1, 5) is None
    assert "over 80%" in (banner_text("default", ["80"], 4, 5) or "")
    assert "used up" in (banner_text("default", ["80", "100"], 5, 5) or "")
    assert banner_text("default", ["80", "100"], 5, 50) is None  # the limit was raised since
