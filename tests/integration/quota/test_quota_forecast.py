"""The forecast against a hand-computed schedule (Asia/Tokyo, March 2026)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.extensions import db
from app.models.delivery import DELIVERY_HELD, DELIVERY_QUEUED, DELIVERY_SENT, Enrollment
from app.models.quota import QuotaMonth
from app.models.scenarios import Scenario, ScenarioVersion
from app.quota import tracker
from app.quota.forecast import forecast
from app.scenarios.schema import ScenarioDef
from app.scenarios.store import dump_definition, forget
from tests.factories import in_tx
from tests.integration.quota.quota_rows import Rows

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=JST)


def jst(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=JST)


def _scenario(scenario_id: str, status: str = "live", **fields: object) -> None:
    scn = ScenarioDef.model_validate({
        "id": scenario_id, "name": scenario_id, "status": "live", "start": {"trigger": "follow"}, **fields,
        "steps": [
            {"id": "s1", "at": {"after": "0s"}, "messages": [{"text": "a"}]},
            {"id": "s2", "at": {"day": 2, "time": "10:00"}, "messages": [{"text": "b"}, {"text": "c"}]},
            {"id": "s3", "at": {"wait": "5d"}, "messages": [{"text": "d"}]},
        ],
    })
    forget(scenario_id)  # the per-process definition cache may hold another test's "welcome" v1
    with db.transaction() as session:
        session.add(Scenario(id=scenario_id, name=scenario_id, status=status, version=1))
        session.flush()
        session.add(ScenarioVersion(scenario_id=scenario_id, version=1, definition=dump_definition(scn), source=""))


def _enroll(rows: Rows, scenario_id: str, start: datetime, step: str, due: datetime) -> None:
    friend_id = rows.friend()
    with db.transaction() as session:
        session.add(Enrollment(friend_id=friend_id, scenario_id=scenario_id, start_at=start, next_step_id=step,
                               next_run_at=due))


def _pipeline(rows: Rows) -> None:
    _scenario("welcome")
    _scenario("paused-one", status="paused")
    # two friends who started this morning: s2 on the 17th at 10:00, s3 five days later (22nd)
    for _ in range(2):
        _enroll(rows, "welcome", jst(3, 15, 9), "s2", jst(3, 17, 10))
    # overdue s1 (goes out now), then s2 on the 17th and s3 on the 22nd
    _enroll(rows, "welcome", jst(3, 15, 11), "s1", jst(3, 15, 11))
    # late starter: s2 on the 30th, s3 on April 4th (next month: not counted)
    _enroll(rows, "welcome", jst(3, 28, 20), "s2", jst(3, 30, 10))
    # a paused scenario sends nothing
    _enroll(rows, "paused-one", jst(3, 15, 9), "s2", jst(3, 17, 10))
    # waiting deliveries count today; sent and reserved ones are already in "used"
    rows.delivery(due_at=jst(3, 14, 9), status=DELIVERY_HELD, scenario_id="welcome", step_id="x1")
    rows.delivery(due_at=jst(3, 15, 11), status=DELIVERY_QUEUED, scenario_id="welcome", step_id="x2")
    rows.delivery(due_at=jst(3, 15, 11), status=DELIVERY_SENT, scenario_id="welcome", step_id="x3")
    assert in_tx(tracker.reserve, "default", 2, NOW)


def test_forecast_matches_the_hand_computed_schedule(rows: Rows) -> None:
    _pipeline(rows)
    with db.session() as session:
        result = forecast(session, "default", NOW)
    scheduled = {d.day: d.messages for d in result.days if d.messages}
    assert scheduled == {date(2026, 3, 15): 3, date(2026, 3, 17): 3, date(2026, 3, 22): 3, date(2026, 3, 30): 1}
    assert result.days[0].day == date(2026, 3, 15) and result.days[-1].day == date(2026, 3, 31)
    assert result.used == 2
    assert result.month_total_projected == 12
    assert result.limit == 5
    assert result.limit_reached_on == date(2026, 3, 15)  # 2 used + 3 today = 5
    assert result.over_by == 7
    assert result.by_scenario == {"welcome": 10}


def test_the_limit_is_reached_on_the_day_the_cumulative_demand_gets_there(rows: Rows) -> None:
    _pipeline(rows)
    with db.transaction() as session:
        session.get(QuotaMonth, ("default", "2026-03")).limit = 10  # type: ignore[union-attr]
    with db.session() as session:
        result = forecast(session, "default", NOW)
    assert result.limit_reached_on == date(2026, 3, 22)  # 5 by the 15th, 8 by the 17th, 11 by the 22nd
    assert result.to_dict()["limit_reached_on"] == "2026-03-22"


def test_an_empty_pipeline_never_reaches_the_limit(rows: Rows) -> None:
    with db.session() as session:
        result = forecast(session, "default", NOW)
    assert result.month_total_projected == 0 and result.limit_reached_on is None
    assert len(result.days) == 17


def test_steps_after_the_scenarios_end_are_not_forecast(rows: Rows) -> None:
    _scenario("ending", end="2026-03-20")
    _enroll(rows, "ending", jst(3, 15, 9), "s2", jst(3, 17, 10))  # s2 on the 17th; s3 on the 22nd is after the end
    with db.session() as session:
        result = forecast(session, "default", NOW)
    assert {d.day: d.messages for d in result.days if d.messages} == {date(2026, 3, 17): 1}
