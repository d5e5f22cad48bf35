"""SPEC §9: whose rules answer — live scenarios the friend is active in or completed, then rule sets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models.base import utcnow
from app.models.delivery import Enrollment
from app.models.friends import Friend
from app.services import rulesets
from tests.factories import T0, add_enrollment, add_friend, add_scenario, scenario_doc
from tests.integration.conversations.conftest import USER, incoming, reply_texts

pytestmark = pytest.mark.usefixtures("bound")

MENU_RULE = {"when": {"keyword": ["メニュー"]}, "do": [{"reply": [{"text": "scenario menu"}]}]}
STOP_RULE = {"when": {"keyword": ["配信停止"]}, "do": [{"reply": [{"text": "停止しました"}]}, {"stop": True}]}
BACK_RULE = {"when": {"keyword": ["戻る"]}, "do": [{"reply": [{"text": "ok"}]}, {"goto": "tips"}]}


def _scenario(status: str = "live", **extra: Any) -> None:
    with db.transaction() as session:
        add_scenario(session, scenario_doc(rules=[MENU_RULE, STOP_RULE, BACK_RULE], **extra), status=status)


def _friend_in(status: str = "active", stop_reason: str | None = None) -> int:
    with db.transaction() as session:
        friend = add_friend(session, USER, display_name="Aki")
        enrollment = add_enrollment(session, friend, "welcome", step="offer", run_at=T0 + timedelta(days=1))
        enrollment.status, enrollment.stop_reason = status, stop_reason
        if status != "active":
            enrollment.next_step_id, enrollment.next_run_at, enrollment.finished_at = None, None, T0
        return enrollment.id


def _ruleset(doc: str, name: str = "rules/base.yaml") -> None:
    rulesets.upload([(name, doc)], utcnow())


BASE_RULESET = """
id: base
name: 基本の自動応答
status: live
priority: 0
rules:
  - when: {keyword: [配信再開], match: exact}
    do: [{opt_in: true}, {reply: [{text: "配信を再開しました"}]}]
  - when: {keyword: [メニュー], match: exact}
    do: [{reply: [{text: "ruleset menu"}]}]
  - when: {keyword: [配信停止], match: exact}
    do: [{opt_out: true}, {reply: [{text: "配信は停止済みです"}]}]
"""


def test_completed_enrollments_rules_still_answer() -> None:
    _scenario()
    _friend_in("completed")
    assert reply_texts(incoming(USER, text="メニュー")) == ["scenario menu"]


def test_paused_scenarios_rules_do_not_answer() -> None:
    _scenario(status="paused")
    _friend_in("active")
    assert reply_texts(incoming(USER, text="メニュー")) == []


def test_keyword_stopped_enrollment_no_longer_answers_but_a_ruleset_does() -> None:
    _scenario()
    _friend_in("active")
    _ruleset(BASE_RULESET)
    assert reply_texts(incoming(USER, text="配信停止")) == ["停止しました"]
    assert reply_texts(incoming(USER, text="配信停止", at=T0 + timedelta(minutes=6))) == ["配信は停止済みです"]


def test_ruleset_answers_a_friend_in_no_scenario() -> None:
    _ruleset(BASE_RULESET)
    with db.transaction() as session:
        add_friend(session, USER).opted_out = True
    assert reply_texts(incoming(USER, text="配信再開")) == ["配信を再開しました"]
    with db.session() as session:
        assert session.scalar(sa.select(Friend.opted_out)) is False


def test_scenario_rules_come_before_rulesets() -> None:
    _scenario()
    _friend_in("active")
    _ruleset(BASE_RULESET)
    assert reply_texts(incoming(USER, text="メニュー")) == ["scenario menu"]


def test_higher_priority_ruleset_wins() -> None:
    _ruleset(BASE_RULESET)
    _ruleset(BASE_RULESET.replace("id: base", "id: campaign").replace("priority: 0", "priority: 5")
             .replace("ruleset menu", "campaign menu"), "rules/campaign.yaml")
    with db.transaction() as session:
        add_friend(session, USER)
    assert reply_texts(incoming(USER, text="メニュー")) == ["campaign menu"]


def test_paused_ruleset_does_not_answer() -> None:
    _ruleset(BASE_RULESET.replace("status: live", "status: paused"))
    with db.transaction() as session:
        add_friend(session, USER)
    assert reply_texts(incoming(USER, text="メニュー")) == []


def test_goto_on_a_completed_enrollment_reopens_it_at_that_step() -> None:
    _scenario()
    eid = _friend_in("completed")
    at = T0 + timedelta(minutes=5)
    assert reply_texts(incoming(USER, text="戻る", at=at)) == ["ok"]
    with db.session() as session:
        row = session.get(Enrollment, eid)
        assert row is not None
        assert (row.status, row.next_step_id, row.next_run_at, row.finished_at) == ("active", "tips", at, None)


def test_blocked_enrollment_does_not_answer() -> None:
    _scenario()
    _friend_in("stopped", "blocked")
    assert reply_texts(incoming(USER, text="メニュー")) == []


def test_only_the_latest_cycle_decides() -> None:
    _scenario()
    _friend_in("completed")
    with db.transaction() as session:
        session.add(Enrollment(friend_id=session.scalar(sa.select(Enrollment.friend_id)), scenario_id="welcome",
                               cycle=2, status="stopped", stop_reason="keyword", start_at=T0))
    assert reply_texts(incoming(USER, text="メニュー")) == []
