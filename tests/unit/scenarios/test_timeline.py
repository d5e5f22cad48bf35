"""Step due times: pure, time-zone and DST correct, send windows applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.scenarios.schema import ScenarioDef
from app.scenarios.timeline import apply_send_window, first_step, next_step, step_due, timeline

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc,arg-type]


def scenario(*ats: dict[str, Any], tz: str = "Asia/Tokyo", send_window: dict[str, Any] | None = None) -> ScenarioDef:
    data: dict[str, Any] = {
        "id": "t", "name": "t", "timezone": tz, "start": {"trigger": "follow"},
        "steps": [{"id": f"s{i}", "at": at, "messages": [{"text": "x"}]} for i, at in enumerate(ats)],
    }
    if send_window:
        data["send_window"] = send_window
    return ScenarioDef.model_validate(data)


def test_after_is_elapsed_time_from_start() -> None:
    scn = scenario({"after": "1d12h"})
    assert step_due(scn, 0, utc(2026, 3, 6, 3), None) == utc(2026, 3, 7, 15)


def test_day_and_time_in_tokyo() -> None:
    scn = scenario({"day": 2, "time": "10:00"})
    # start 12:00 JST on 6 March → 8 March 10:00 JST = 01:00 UTC
    assert step_due(scn, 0, utc(2026, 3, 6, 3), None) == utc(2026, 3, 8, 1)


def test_day_counts_from_the_local_date_not_the_utc_date() -> None:
    scn = scenario({"day": 1, "time": "10:00"})
    # 15:30 UTC on 6 March is already 00:30 on 7 March in Tokyo
    assert step_due(scn, 0, utc(2026, 3, 6, 15, 30), None) == utc(2026, 3, 8, 1)


def test_day_zero_time_already_past_is_due_at_once() -> None:
    start = utc(2026, 3, 6, 3)  # 12:00 JST
    assert step_due(scenario({"day": 0, "time": "10:00"}), 0, start, None) == start
    assert step_due(scenario({"day": 0, "time": "15:00"}), 0, start, None) == utc(2026, 3, 6, 6)


def test_day_offsets_cross_month_ends_and_leap_days() -> None:
    start = utc(2026, 1, 31, 3)  # 12:00 JST, 31 January
    assert step_due(scenario({"day": 1, "time": "09:00"}), 0, start, None) == utc(2026, 2, 1, 0)
    assert step_due(scenario({"day": 29, "time": "09:00"}), 0, start, None) == utc(2026, 3, 1, 0)
    leap = utc(2028, 2, 28, 3)
    assert step_due(scenario({"day": 1, "time": "09:00"}), 0, leap, None) == utc(2028, 2, 29, 0)


def test_new_york_spring_forward_keeps_local_wall_time() -> None:
    scn = scenario({"day": 1, "time": "10:00"}, tz="America/New_York")
    start = utc(2026, 3, 7, 15)  # Sat 7 March 10:00 EST; DST starts Sun 8 March 02:00
    assert step_due(scn, 0, start, None) == utc(2026, 3, 8, 14)  # 10:00 EDT


def test_new_york_nonexistent_local_time_moves_forward() -> None:
    scn = scenario({"day": 1, "time": "02:30"}, tz="America/New_York")
    due = step_due(scn, 0, utc(2026, 3, 7, 15), None)
    assert due == utc(2026, 3, 8, 7, 30)
    assert due.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:30 EDT"


def test_new_york_fall_back_keeps_local_wall_time() -> None:
    scn = scenario({"day": 1, "time": "10:00"}, tz="America/New_York")
    start = utc(2026, 10, 31, 14)  # Sat 31 October 10:00 EDT; DST ends Sun 1 November 02:00
    assert step_due(scn, 0, start, None) == utc(2026, 11, 1, 15)  # 10:00 EST


def test_new_york_ambiguous_local_time_takes_first_occurrence() -> None:
    scn = scenario({"day": 1, "time": "01:30"}, tz="America/New_York")
    assert step_due(scn, 0, utc(2026, 10, 31, 14), None) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT


def test_after_across_dst_is_exact_elapsed_time() -> None:
    scn = scenario({"after": "1d"}, tz="America/New_York")
    due = step_due(scn, 0, utc(2026, 3, 7, 15), None)
    assert due == utc(2026, 3, 8, 15)
    assert due.astimezone(NEW_YORK).hour == 11


def test_wait_chains_from_the_previous_step() -> None:
    scn = scenario({"after": "0s"}, {"wait": "1h"}, {"wait": "2h"})
    start = utc(2026, 3, 6, 3)
    assert [e.due_utc for e in timeline(scn, start)] == [start, start + timedelta(hours=1), start + timedelta(hours=3)]


def test_wait_counts_from_the_actual_send_time() -> None:
    scn = scenario({"after": "0s"}, {"wait": "1h"})
    sent = utc(2026, 3, 6, 5, 17)
    assert next_step(scn, "s0", utc(2026, 3, 6, 3), sent) == ("s1", utc(2026, 3, 6, 6, 17))


def test_wait_on_the_first_step_counts_from_start() -> None:
    scn = scenario({"wait": "10s"})
    assert first_step(scn, utc(2026, 3, 6, 3)) == ("s0", utc(2026, 3, 6, 3, 0, 10))


def test_a_step_is_never_due_before_the_previous_one_was_sent() -> None:
    scn = scenario({"after": "0s"}, {"after": "1h"})
    late = utc(2026, 3, 6, 9)
    assert next_step(scn, "s0", utc(2026, 3, 6, 3), late) == ("s1", late)


def test_next_step_is_none_when_finished_and_keyerror_for_unknown_step() -> None:
    scn = scenario({"after": "0s"}, {"wait": "1h"})
    assert next_step(scn, "s1", utc(2026, 3, 6, 3), utc(2026, 3, 6, 4)) is None
    with pytest.raises(KeyError):
        next_step(scn, "gone", utc(2026, 3, 6, 3), None)


WEEKDAYS_9_TO_18 = {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"}


@pytest.mark.parametrize(
    ("local_due", "local_expected"),
    [
        (datetime(2026, 3, 10, 12, 0), datetime(2026, 3, 10, 12, 0)),  # Tuesday noon: inside
        (datetime(2026, 3, 10, 7, 0), datetime(2026, 3, 10, 9, 0)),  # Tuesday early: same morning
        (datetime(2026, 3, 10, 18, 0), datetime(2026, 3, 11, 9, 0)),  # closing time is outside
        (datetime(2026, 3, 13, 20, 0), datetime(2026, 3, 16, 9, 0)),  # Friday night → Monday
        (datetime(2026, 3, 14, 3, 0), datetime(2026, 3, 16, 9, 0)),  # Saturday → Monday
    ],
)
def test_send_window_moves_to_next_opening(local_due: datetime, local_expected: datetime) -> None:
    scn = scenario({"after": "0s"}, send_window=WEEKDAYS_9_TO_18)
    due = local_due.replace(tzinfo=TOKYO).astimezone(UTC)
    assert apply_send_window(due, scn.send_window, TOKYO) == local_expected.replace(tzinfo=TOKYO).astimezone(UTC)


def test_overnight_send_window() -> None:
    scn = scenario({"after": "0s"}, send_window={"from": "21:00", "to": "06:00"})

    def moved(h: int) -> int:
        due = datetime(2026, 3, 10, h, tzinfo=TOKYO).astimezone(UTC)
        return apply_send_window(due, scn.send_window, TOKYO).astimezone(TOKYO).hour

    assert (moved(23), moved(3), moved(12)) == (23, 3, 21)


def test_send_window_shift_feeds_the_wait_chain() -> None:
    scn = scenario({"after": "0s"}, {"wait": "1h"}, send_window=WEEKDAYS_9_TO_18)
    start = datetime(2026, 3, 13, 20, tzinfo=TOKYO).astimezone(UTC)  # Friday 20:00
    first, second = timeline(scn, start)
    assert first.due_local == datetime(2026, 3, 16, 9, tzinfo=TOKYO)
    assert second.due_local == datetime(2026, 3, 16, 10, tzinfo=TOKYO)


def test_timeline_entries_serialise_to_iso() -> None:
    scn = scenario({"day": 2, "time": "10:00"})
    (entry,) = timeline(scn, utc(2026, 3, 6, 3), attributes={"plan": "gold"})
    assert entry.to_dict() == {
        "step_id": "s0", "due_utc": "2026-03-08T01:00:00+00:00", "due_local": "2026-03-08T10:00:00+09:00",
        "messages_count": 1, "messages": [{"type": "text", "text": "x"}],
    }


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        step_due(scenario({"after": "0s"}), 0, datetime(2026, 3, 6), None)


def test_preview_marks_a_step_the_send_window_moved_with_its_original_time() -> None:
    scn = scenario({"after": "0s"}, send_window={"from": "09:00", "to": "21:00"})
    (entry,) = timeline(scn, utc(2026, 3, 6, 14))  # 23:00 in Tokyo: outside the window
    assert entry.moved_from_utc == utc(2026, 3, 6, 14)
    assert entry.due_local == datetime(2026, 3, 7, 9, tzinfo=TOKYO)
    assert entry.to_dict()["moved_from_utc"] == "2026-03-06T14:00:00+00:00"


def test_preview_leaves_steps_inside_the_window_unmarked() -> None:
    scn = scenario({"after": "0s"}, send_window={"from": "09:00", "to": "21:00"})
    (entry,) = timeline(scn, utc(2026, 3, 6, 3))
    assert entry.moved_from_utc is None
    assert "moved_from_utc" not in entry.to_dict()


def test_preview_marks_a_step_pushed_into_the_next_window_by_the_step_before_it() -> None:
    scn = scenario({"after": "0s"}, {"after": "30m"}, send_window={"from": "09:00", "to": "21:00"})
    first, second = timeline(scn, utc(2026, 3, 6, 14))  # 23:00 and 23:30 in Tokyo
    assert second.moved_from_utc == utc(2026, 3, 6, 14, 30)
    assert second.due_utc == first.due_utc == utc(2026, 3, 7, 0)
