"""Calendar rules of the timeline: several send windows, holidays, ``end``, yearly (birthday) starts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.delivery.start_dates import next_birthday, resolve_start
from app.scenarios.errors import ScenarioInvalid
from app.scenarios.loader import parse_scenario
from app.scenarios.schema import ScenarioDef
from app.scenarios.timeline import (
    after_end,
    following_yearly,
    next_yearly,
    step_due,
    steps_due_by,
    timeline,
)

TOKYO = ZoneInfo("Asia/Tokyo")


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO).astimezone(UTC)  # type: ignore[misc,arg-type]


def scenario(*ats: dict[str, Any], **fields: Any) -> ScenarioDef:
    data: dict[str, Any] = {
        "id": "t", "name": "t", "timezone": "Asia/Tokyo", "start": {"trigger": "follow"},
        "steps": [{"id": f"s{i}", "at": at, "messages": [{"text": "x"}]} for i, at in enumerate(ats)], **fields,
    }
    return ScenarioDef.model_validate(data)


LUNCH_AND_EVENING = [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "12:00", "to": "13:00"},
                     {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "18:00", "to": "20:00"}]


def test_a_step_between_two_windows_waits_for_the_next_one() -> None:
    scn = scenario({"after": "0s"}, send_window=LUNCH_AND_EVENING)
    assert step_due(scn, 0, jst(2026, 3, 9, 14, 30), None) == jst(2026, 3, 9, 18, 0)  # Monday afternoon


def test_a_step_inside_any_window_stays() -> None:
    scn = scenario({"after": "0s"}, send_window=LUNCH_AND_EVENING)
    assert step_due(scn, 0, jst(2026, 3, 9, 12, 30), None) == jst(2026, 3, 9, 12, 30)
    assert step_due(scn, 0, jst(2026, 3, 9, 19, 0), None) == jst(2026, 3, 9, 19, 0)


def test_after_the_last_window_of_friday_moves_to_monday_lunch() -> None:
    scn = scenario({"after": "0s"}, send_window=LUNCH_AND_EVENING)
    assert step_due(scn, 0, jst(2026, 3, 13, 21, 0), None) == jst(2026, 3, 16, 12, 0)


def test_windows_with_different_days_take_the_earliest_opening() -> None:
    windows = [{"days": ["sat"], "from": "10:00", "to": "11:00"}, {"days": ["mon"], "from": "09:00", "to": "10:00"}]
    scn = scenario({"after": "0s"}, send_window=windows)
    assert step_due(scn, 0, jst(2026, 3, 12, 12, 0), None) == jst(2026, 3, 14, 10, 0)  # Thursday → Saturday


def test_a_holiday_moves_the_step_to_the_next_open_window() -> None:
    # Golden Week 2026: 4 (Mon), 5 (Tue) and 6 May (Wed, substitute) are holidays
    window = {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"}
    scn = scenario({"after": "0s"}, send_window=window, skip_holidays=True)
    assert step_due(scn, 0, jst(2026, 5, 4, 10, 0), None) == jst(2026, 5, 7, 9, 0)


def test_holidays_are_ignored_without_skip_holidays() -> None:
    window = {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"}
    scn = scenario({"after": "0s"}, send_window=window)
    assert step_due(scn, 0, jst(2026, 5, 4, 10, 0), None) == jst(2026, 5, 4, 10, 0)


def test_skip_holidays_without_a_window_moves_to_the_next_working_midnight() -> None:
    scn = scenario({"after": "0s"}, skip_holidays=True)
    assert step_due(scn, 0, jst(2026, 1, 1, 10, 0), None) == jst(2026, 1, 2, 0, 0)  # New Year's Day


def test_extra_holidays_close_their_days_too() -> None:
    scn = scenario({"after": "0s"}, skip_holidays=True, holidays=["2026-03-10"])
    assert step_due(scn, 0, jst(2026, 3, 10, 10, 0), None) == jst(2026, 3, 11, 0, 0)


def test_end_date_closes_at_the_end_of_that_local_day() -> None:
    scn = scenario({"after": "0s"}, end="2026-12-31")
    assert scn.end_at == jst(2027, 1, 1, 0, 0)
    assert not after_end(scn, jst(2026, 12, 31, 23, 59))
    assert after_end(scn, jst(2027, 1, 1, 0, 1))


def test_end_datetime_without_offset_is_local() -> None:
    scn = scenario({"after": "0s"}, end="2026-12-31T18:00")
    assert scn.end_at == jst(2026, 12, 31, 18, 0)


def test_end_must_be_iso() -> None:
    with pytest.raises(ScenarioInvalid) as caught:
        parse_scenario("id: t\nname: n\nend: next week\nstart: {trigger: follow}\n"
                       "steps: [{id: a, at: {after: 0s}, messages: [{text: x}]}]\n")
    assert "end: expected an ISO 8601 date" in str(caught.value)


def test_preview_marks_steps_after_end_as_skipped() -> None:
    scn = scenario({"after": "0s"}, {"after": "3d"}, end="2026-03-02")
    entries = timeline(scn, jst(2026, 3, 1, 9, 0))
    assert [entry.skipped for entry in entries] == [None, "after_end"]


def test_steps_due_by_counts_the_steps_that_go_out_at_once() -> None:
    scn = scenario({"after": "0s"}, {"wait": "0s"}, {"after": "1d"})
    now = jst(2026, 3, 9, 12, 0)
    assert steps_due_by(scn, "s0", now, now, now) == 2
    assert steps_due_by(scn, "s2", now, jst(2026, 3, 10, 12, 0), now) == 0
    assert steps_due_by(scn, "gone", now, now, now) == 0


def test_steps_due_by_counts_nothing_outside_the_window_or_after_end() -> None:
    closed = scenario({"after": "0s"}, send_window={"from": "09:00", "to": "10:00"})
    night = jst(2026, 3, 9, 23, 0)
    assert steps_due_by(closed, "s0", night, step_due(closed, 0, night, None), night) == 0
    ended = scenario({"after": "0s"}, end="2026-03-01")
    assert steps_due_by(ended, "s0", night, night, night) == 0


def test_next_yearly_is_this_year_when_still_ahead_and_next_year_when_past() -> None:
    assert next_yearly(8, 15, TOKYO, jst(2026, 5, 1, 12)) == jst(2026, 8, 15, 0, 0)
    assert next_yearly(3, 1, TOKYO, jst(2026, 5, 1, 12)) == jst(2027, 3, 1, 0, 0)


def test_next_yearly_today_counts_as_today() -> None:
    assert next_yearly(5, 1, TOKYO, jst(2026, 5, 1, 23, 30)) == jst(2026, 5, 1, 0, 0)


def test_february_29_falls_on_the_28th_in_common_years_and_the_29th_in_leap_years() -> None:
    assert next_yearly(2, 29, TOKYO, jst(2026, 1, 10)) == jst(2026, 2, 28, 0, 0)
    assert following_yearly(2, 29, TOKYO, jst(2027, 2, 28, 0, 0)) == jst(2028, 2, 29, 0, 0)


def test_birthday_start_is_never_in_the_past() -> None:
    scn = scenario({"day": 0, "time": "10:00"}, start={"trigger": "manual", "from": "birthday"})
    now = jst(2026, 9, 1, 12, 0)
    start = resolve_start(scn, followed_at=None, last_message_at=None, attributes={"birthday": "1990-08-15"},
                          trigger_time=now)
    assert start == jst(2027, 8, 15, 0, 0)
    assert step_due(scn, 0, start, None) == jst(2027, 8, 15, 10, 0)


def test_birthday_accepts_month_day_and_rejects_nonsense() -> None:
    scn = scenario({"after": "0s"}, start={"trigger": "manual", "from": "birthday"})
    now = jst(2026, 1, 5)
    assert next_birthday("12-24", scn, now) == jst(2026, 12, 24, 0, 0)
    assert next_birthday(date(2000, 2, 29), scn, now) == jst(2026, 2, 28, 0, 0)
    assert next_birthday("13-40", scn, now) is None and next_birthday(None, scn, now) is None


def test_preview_says_a_holiday_moved_the_step_not_the_window() -> None:
    window = {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"}
    scn = scenario({"after": "0s"}, send_window=window, skip_holidays=True)
    (holiday,) = timeline(scn, jst(2026, 5, 4, 10, 0))  # Golden Week
    (evening,) = timeline(scn, jst(2026, 5, 8, 20, 0))  # a Friday evening: the window moves it
    assert (holiday.moved_by, holiday.to_dict()["moved_by"]) == ("holiday", "holiday")
    assert evening.moved_by == "send_window"


def test_preview_says_a_step_waited_for_the_step_before_it() -> None:
    scn = scenario({"after": "0s"}, {"after": "30m"}, send_window={"from": "09:00", "to": "21:00"})
    first, second = timeline(scn, jst(2026, 3, 6, 23, 0))
    assert (first.moved_by, second.moved_by) == ("send_window", "previous_step")
