from datetime import timedelta

import pytest

from app.scenarios.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)), ("2h", timedelta(hours=2)),
     ("3d", timedelta(days=3)), ("1d12h", timedelta(days=1, hours=12)), ("0s", timedelta(0)),
     ("1h30m", timedelta(hours=1, minutes=30))],
)
def test_parse_duration_accepts_unit_combinations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1x", "d", "12", "1h1d", "-1d", "1.5h", "1 d"])
def test_parse_duration_rejects_bad_text_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like 90s"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ("0s", "90s", "1d12h", "2h15m", "30d"):
        assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)
    assert format_duration(timedelta(days=1, hours=12)) == "1d12h"
