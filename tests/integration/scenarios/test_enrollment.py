"""SPEC §2 start/filter/frequency/window/refollow/start change: who enters which scenario when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.delivery import enrollment as entry
from app.delivery.blocking import stop_for_block
from app.extensions import db
from app.models.delivery import ENROLLMENT_ACTIVE, ENROLLMENT_COMPLETED, ENROLLMENT_STOPPED, Enrollment
from app.models.friends import FRIEND_BLOCKED
from app.models.scenarios import Scenario
from app.scenarios.store import definition_for

from .helpers import T0, doc, enrollments, friend, load, store_friend

H = timedelta(hours=1)
HALF_HOUR = timedelta(minutes=30)


def _follow(user_id: str, at: datetime, *, is_new: bool = True, is_refollow: bool = False) -> list[Enrollment]:
    with db.transaction() as session:
        f = friend(session, user_id)
        f.followed_at, f.status = at, "active"
        return entry.on_follow(session, f, at=at, is_new=is_new, is_refollow=is_refollow, now=at)


def _enroll(user_id: str, scenario_id: str, now: datetime) -> Enrollment | None:
    with db.transaction() as session:
        scenario = session.get(Scenario, scenario_id)
        assert scenario is not None
        scn = definition_for(session, scenario_id, scenario.version)
        return entry.enroll(session, friend(session, user_id), scenario, scn, trigger_time=now, now=now, source="test")


def test_new_friend_is_enrolled_on_follow_with_first_step_due(app: Flask) -> None:
    load(doc(steps=[{"id": "later", "at": {"after": "2h"}, "messages": [{"text": "x"}]}]))
    store_friend("U1")
    (started,) = _follow("U1", T0 + H)
    assert (started.cycle, started.next_step_id, started.start_at) == (1, "later", T0 + H)
    assert started.next_run_at == T0 + 3 * H


def test_audience_new_skips_friends_whose_follow_predates_publish(app: Flask) -> None:
    load(doc("new-only"), doc("everyone", start={"audience": "all"}))
    store_friend("U1")
    started = _follow("U1", T0 - H)
    assert [e.scenario_id for e in started] == ["everyone"]


def test_paused_and_draft_scenarios_take_nobody(app: Flask) -> None:
    load(doc("p", status="paused"), doc("d", status="draft"))
    store_friend("U1")
    assert _follow("U1", T0 + H) == []


def test_blocked_and_opted_out_friends_are_skipped(app: Flask) -> None:
    load(doc("careful"), doc("loud", respect_opt_out=False, start={"trigger": "manual"}))
    store_friend("B1", status=FRIEND_BLOCKED)
    store_friend("O1", opted_out=True)
    assert _enroll("B1", "careful", T0) is None
    assert _enroll("O1", "careful", T0) is None
    assert _enroll("O1", "loud", T0) is not None


FILTER = {"all": [{"attribute": "member", "eq": True},
                  {"any": [{"tag": "vip"}, {"attribute": "sessionCount", "gte": 3}]}]}


@pytest.mark.parametrize(("attributes", "tags", "enters"), [
    ({"member": True}, ("vip",), True),
    ({"member": True, "sessionCount": 5}, (), True),
    ({"member": True, "sessionCount": 1}, (), False),
    ({}, ("vip",), False),
])
def test_filter_tree_over_tags_and_attributes(app: Flask, attributes: dict[str, Any], tags: tuple[str, ...],
                                              enters: bool) -> None:
    load(doc(filter=FILTER))
    store_friend("U1", attributes=attributes, tags=tags)
    assert (_enroll("U1", "welcome", T0) is not None) is enters


def _finish_all() -> None:
    with db.transaction() as session:
        session.execute(sa.update(Enrollment).values(status=ENROLLMENT_COMPLETED, next_run_at=None))


def test_frequency_once_never_enters_again(app: Flask) -> None:
    load(doc(frequency="once"))
    store_friend("U1")
    assert _enroll("U1", "welcome", T0) is not None
    _finish_all()
    assert _enroll("U1", "welcome", T0 + 30 * 24 * H) is None


def test_frequency_every_time_starts_a_new_cycle_but_never_two_active(app: Flask) -> None:
    load(doc(frequency="every_time"))
    store_friend("U1")
    assert _enroll("U1", "welcome", T0) is not None
    assert _enroll("U1", "welcome", T0 + H) is None  # still active
    _finish_all()
    second = _enroll("U1", "welcome", T0 + 2 * H)
    assert second is not None and second.cycle == 2


def test_frequency_at_most_every_waits_for_the_interval(app: Flask) -> None:
    load(doc(frequency={"at_most_every": "7d"}))
    store_friend("U1")
    assert _enroll("U1", "welcome", T0) is not None
    _finish_all()
    assert _enroll("U1", "welcome", T0 + 6 * 24 * H) is None
    again = _enroll("U1", "welcome", T0 + 7 * 24 * H)
    assert again is not None and again.cycle == 2


def test_one_active_enrollment_per_pair_is_enforced_by_the_database(app: Flask) -> None:
    load(doc(frequency="every_time"))
    store_friend("U1")
    active = _enroll("U1", "welcome", T0)
    assert active is not None
    with db.transaction() as session:  # a stray finished cycle 2 fools the frequency check
        session.add(Enrollment(friend_id=active.friend_id, scenario_id="welcome", cycle=2, status=ENROLLMENT_COMPLETED,
                               start_at=T0, created_at=T0))
    assert _enroll("U1", "welcome", T0 + H) is None
    assert [e.status for e in enrollments()] == [ENROLLMENT_ACTIVE, ENROLLMENT_COMPLETED]


def test_window_limits_the_start_date(app: Flask) -> None:
    load(doc(start={"window": {"from": "2026-06-01", "until": "2026-06-30"}}))
    store_friend("U1")
    store_friend("U2")
    assert _follow("U1", T0) == []  # May
    assert len(_follow("U2", datetime(2026, 6, 10, tzinfo=UTC))) == 1


def test_birthday_start_is_this_years_occurrence_at_local_midnight(app: Flask) -> None:
    load(doc(timezone="Asia/Tokyo", start={"trigger": "manual", "from": "birthday"}))
    store_friend("U1", attributes={"birthday": "1990-08-15"})
    store_friend("U2")
    started = _enroll("U1", "welcome", T0)
    assert started is not None and started.start_at == datetime(2026, 8, 14, 15, 0, tzinfo=UTC)
    assert _enroll("U2", "welcome", T0) is None  # no birthday, no start date


def test_attribute_start_date(app: Flask) -> None:
    load(doc(start={"trigger": "manual", "from": "attribute:trial_end"}))
    store_friend("U1", attributes={"trial_end": "2026-05-20T09:30:00+00:00"})
    started = _enroll("U1", "welcome", T0)
    assert started is not None and started.start_at == datetime(2026, 5, 20, 9, 30, tzinfo=UTC)


def _message_scenario(on_start_change: str) -> dict[str, Any]:
    return doc(start={"trigger": "manual", "from": "last_message_at", "on_start_change": on_start_change})


def _write_message(user_id: str, at: datetime, now: datetime) -> int:
    with db.transaction() as session:
        f = friend(session, user_id)
        f.last_message_at = at
        return entry.on_start_field_changed(session, f, "last_message_at", now)


def test_start_change_restart_begins_a_new_cycle_from_step_one(app: Flask) -> None:
    load(_message_scenario("restart"))
    store_friend("U1", last_message_at=T0)
    assert _enroll("U1", "welcome", T0) is not None
    with db.transaction() as session:
        session.execute(sa.update(Enrollment).values(next_step_id="tips", last_step_id="hello", last_step_at=T0))
    assert _write_message("U1", T0 + 2 * H, T0 + 2 * H) == 1
    old, new = enrollments()
    assert (old.status, old.stop_reason) == (ENROLLMENT_STOPPED, "restarted")
    assert (new.status, new.cycle, new.next_step_id, new.start_at) == (ENROLLMENT_ACTIVE, 2, "hello", T0 + 2 * H)


def test_start_change_reschedule_moves_the_current_step(app: Flask) -> None:
    load(_message_scenario("reschedule"))
    store_friend("U1", last_message_at=T0)
    _enroll("U1", "welcome", T0)
    with db.transaction() as session:
        session.execute(sa.update(Enrollment).values(next_step_id="offer", next_run_at=T0 + 24 * H))
    assert _write_message("U1", T0 + 5 * H, T0 + 5 * H) == 1
    (only,) = enrollments()
    assert (only.cycle, only.next_step_id, only.start_at) == (1, "offer", T0 + 5 * H)
    assert only.next_run_at == T0 + 29 * H


def test_start_change_ignore_keeps_everything(app: Flask) -> None:
    load(_message_scenario("ignore"))
    store_friend("U1", last_message_at=T0)
    _enroll("U1", "welcome", T0)
    assert _write_message("U1", T0 + H, T0 + H) == 0
    assert [(e.cycle, e.start_at) for e in enrollments()] == [(1, T0)]


def _block(user_id: str, at: datetime) -> None:
    with db.transaction() as session:
        f = friend(session, user_id)
        f.status = FRIEND_BLOCKED
        stop_for_block(session, f.id, at)


@pytest.mark.parametrize("policy", ["resume", "restart", "stop"])
def test_refollow_applies_on_refollow(app: Flask, policy: str) -> None:
    load(doc(start={"on_refollow": policy}))
    store_friend("U1")
    _follow("U1", T0 + H)
    with db.transaction() as session:  # "hello" was sent; "tips" is due at T0 + 2h
        session.execute(sa.update(Enrollment).values(next_step_id="tips", next_run_at=T0 + 2 * H,
                                                     last_step_id="hello", last_step_at=T0 + H))
    _block("U1", T0 + 90 * timedelta(minutes=1))
    back = T0 + 5 * H
    _follow("U1", back, is_new=False, is_refollow=True)
    rows = enrollments()
    if policy == "resume":
        (only,) = rows
        assert (only.status, only.next_step_id, only.next_run_at, only.stop_reason) == (
            ENROLLMENT_ACTIVE, "tips", back, None)
    elif policy == "restart":
        old, new = rows
        assert old.status == ENROLLMENT_STOPPED
        assert (new.status, new.cycle, new.next_step_id, new.start_at) == (ENROLLMENT_ACTIVE, 2, "hello", back)
    else:
        assert [(e.status, e.stop_reason) for e in rows] == [(ENROLLMENT_STOPPED, "blocked")]


def test_named_event_enrolls_from_the_event_time(app: Flask) -> None:
    load(doc("buyers", start={"trigger": "event:purchase", "from": "trigger_time"}), doc("other",
         start={"trigger": "event:purchased"}))
    store_friend("U1")
    with db.transaction() as session:
        started = entry.on_named_event(session, friend(session, "U1"), "purchase", T0 + H, at=T0 + HALF_HOUR)
    assert [(e.scenario_id, e.start_at) for e in started] == [("buyers", T0 + HALF_HOUR)]


def test_keyword_trigger_matches_the_scenarios_start_keywords(app: Flask) -> None:
    load(doc("quiz", start={"trigger": "keyword", "from": "trigger_time", "keywords": ["start quiz"]}))
    store_friend("U1")
    with db.transaction() as session:
        assert entry.on_keyword(session, friend(session, "U1"), "hello", T0) is False
        assert entry.on_keyword(session, friend(session, "U1"), "ＳＴＡＲＴ ＱＵＩＺ", T0) is True
    assert [e.scenario_id for e in enrollments()] == ["quiz"]


def test_manual_enroll_counts_known_friends_only(app: Flask) -> None:
    load(doc(start={"trigger": "manual", "from": "trigger_time"}))
    store_friend("U1")
    store_friend("U2")
    with db.transaction() as session:
        assert entry.enroll_manual(session, "welcome", ["U1", "U2", "U-unknown", "U1"], T0) == 2
    assert {e.start_at for e in enrollments()} == {T0}


def test_carry_over_picks_the_next_surviving_step() -> None:
    from app.scenarios.schema import ScenarioDef

    def scn(*ids: str) -> ScenarioDef:
        return ScenarioDef.model_validate(doc(steps=[{"id": i, "at": {"after": "1h"}, "messages": [{"text": i}]}
                                                     for i in ids]))

    old = scn("a", "b", "c", "d")
    assert entry.carry_over(old, scn("a", "c", "d"), "b") == "c"
    assert entry.carry_over(old, scn("a", "x", "d"), "b") == "x"  # a new step right after the survivor "a"
    assert entry.carry_over(old, scn("c", "d"), "b") == "c"
    assert entry.carry_over(old, scn("a", "b"), "d") is None
