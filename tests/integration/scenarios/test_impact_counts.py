"""An ``audience: all`` dry run is counted in SQL (SPEC §11): the same numbers as walking every
friend through ``enroll_audience``'s plan, in a handful of statements whatever the friend count."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.audience import audience_impact, scanned_impact
from app.delivery.audience_counts import by_start_attribute
from app.extensions import db
from app.models.delivery import Enrollment
from app.models.friends import Friend
from app.models.scenarios import Scenario
from app.scenarios.schema import ScenarioDef

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo, the eve of Golden Week


def _steps(*ats: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": f"s{i}", "at": at, "messages": [{"text": "x"}]} for i, at in enumerate(ats)]


def _scenario(start_from: str, *ats: dict[str, Any], **fields: Any) -> ScenarioDef:
    start = {"trigger": "follow", "from": start_from, "audience": "all", **fields.pop("start", {})}
    return ScenarioDef.model_validate({"id": "dry", "name": "dry", "timezone": "Asia/Tokyo", "start": start,
                                       "steps": _steps(*ats), **fields})


SHAPES = {
    "followed_at, elapsed steps": _scenario("followed_at", {"after": "0s"}, {"after": "1d"}, {"after": "7d"},
                                            {"after": "30d"}),
    "followed_at, windows, holidays, end": _scenario(
        "followed_at", {"after": "0s"}, {"day": 1, "time": "10:00"}, {"after": "3d"}, {"day": 20, "time": "09:00"},
        send_window=[{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"}],
        skip_holidays=True, end="2026-05-20"),
    "last_message_at, waits, start window": _scenario(
        "last_message_at", {"after": "2h"}, {"wait": "1d"}, {"wait": "1h"},
        start={"window": {"from": "2026-04-10", "until": "2026-04-28"}}),
    "followed_at, filtered": _scenario("followed_at", {"after": "0s"}, {"after": "10d"},
                                       filter={"attribute": "plan", "eq": "gold"}),
    "birthday": _scenario("birthday", {"after": "0s"}, {"day": 1, "time": "09:00"}),
    "attribute start, window": _scenario("attribute:signup", {"after": "0s"}, {"after": "5d"}, {"after": "20d"},
                                         start={"window": {"from": "2026-03-01"}}),
}


def _friend(i: int, rng: random.Random) -> dict[str, Any]:
    followed = NOW - timedelta(seconds=rng.randrange(-3 * 86400, 60 * 86400))
    birthday = rng.choice(["1990-05-01", "05-02", "1985-12-24", "02-29", "not a date", 19900501, None])
    signup = rng.choice([(NOW - timedelta(days=rng.randrange(90))).isoformat(), "2026-04-01", "2026-02-15", "x"])
    return {"channel": "default", "user_id": f"U{i:06d}", "status": "blocked" if i % 17 == 0 else "active",
            "opted_out": i % 11 == 0, "followed_at": followed if i % 13 else None,
            "last_message_at": followed + timedelta(hours=rng.randrange(0, 200)) if i % 7 else None,
            "attributes": {"plan": rng.choice(["gold", "free"]), "birthday": birthday, "signup": signup},
            "created_at": NOW, "updated_at": NOW}


@pytest.fixture()
def friends() -> None:
    rng = random.Random(16)
    with db.transaction() as session:
        session.execute(sa.insert(Friend), [_friend(i, rng) for i in range(400)])
        session.add(Scenario(id="dry", name="dry", channel="default", version=1, status="draft", trigger="follow"))
        session.flush()
        for friend_id in session.scalars(sa.select(Friend.id).where(Friend.id % 9 == 0)):
            session.add(Enrollment(friend_id=friend_id, scenario_id="dry", scenario_version=1, status="completed",
                                   start_at=NOW, created_at=NOW))


def _row() -> Scenario:
    return Scenario(id="dry", channel="default")


@pytest.mark.parametrize("shape", list(SHAPES))
def test_counted_dry_run_gives_the_numbers_of_the_friend_by_friend_plan(friends: None, shape: str) -> None:
    scn = SHAPES[shape]
    with db.session() as session:
        counted = audience_impact(session, _row(), scn, NOW)
        walked = scanned_impact(session, _row(), scn, NOW, batch_size=97)
    assert (counted.would_enroll, counted.messages_due_now) == (walked.would_enroll, walked.messages_due_now)
    assert counted.would_enroll > 0 and counted.messages_due_now > 0 and not counted.estimated


@pytest.mark.parametrize("shape", ["birthday", "attribute start, window"])
def test_past_its_bound_an_attribute_start_is_estimated_from_the_values_read(friends: None, shape: str) -> None:
    scn = SHAPES[shape]
    name = "birthday" if shape == "birthday" else "signup"
    with db.session() as session:
        walked = scanned_impact(session, _row(), scn, NOW)
        conditions = [Friend.__table__.c.channel == "default"]  # type: ignore[attr-defined]
        bounded = by_start_attribute(session, scn, conditions, name, NOW, max_groups=2)
    assert bounded.estimated
    assert 0 <= bounded.would_enroll <= 400 and bounded.messages_due_now >= 0
    assert walked.would_enroll > 0


@pytest.fixture()
def statements() -> Iterator[list[str]]:
    """SQL statements issued while the test runs (on the app's engine)."""
    issued: list[str] = []
    engine = db.engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        issued.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    yield issued
    sa.event.remove(engine, "before_cursor_execute", record)


def _seed_many(session: Session, count: int) -> None:
    rows = [{"channel": "default", "user_id": f"B{i:07d}", "status": "active", "opted_out": False,
             "followed_at": NOW - timedelta(minutes=i * 3 % 90_000),
             "attributes": {"plan": "gold" if i % 4 else "free"},
             "created_at": NOW, "updated_at": NOW} for i in range(count)]
    for offset in range(0, count, 10_000):
        session.execute(sa.insert(Friend), rows[offset:offset + 10_000])


def test_fifty_thousand_friends_are_counted_in_a_few_statements(statements: list[str]) -> None:
    scn = _scenario("followed_at", {"after": "0s"}, {"after": "1d"}, {"after": "14d"}, {"after": "45d"},
                    filter={"attribute": "plan", "eq": "gold"})
    with db.transaction() as session:
        _seed_many(session, 50_000)
    with db.session() as session:
        walked = scanned_impact(session, _row(), scn, NOW)
        statements.clear()
        counted = audience_impact(session, _row(), scn, NOW)
    assert len(statements) <= 3, statements  # the range and count, then every threshold in one aggregate
    assert not any("LIMIT" in s.upper() for s in statements)  # no paging through the friends
    assert (counted.would_enroll, counted.messages_due_now) == (walked.would_enroll, walked.messages_due_now)
    assert counted.would_enroll == 37_500 and counted.messages_due_now > counted.would_enroll


def test_an_estimated_dry_run_says_so_and_an_exact_one_keeps_its_shape(
        friends: None, client: Any, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from app.delivery import audience_counts

    from .helpers import doc, text_of

    document = doc("bday", status="draft", start={"trigger": "follow", "from": "birthday", "audience": "all"})
    headers = {**admin_headers, "Content-Type": "application/yaml"}
    assert client.put("/admin/api/scenarios/bday", data=text_of(document).encode(), headers=headers).status_code == 201
    exact = client.post("/admin/api/scenarios/bday/publish?dry_run=1", headers=admin_headers).get_json()
    assert "estimated" not in exact and exact["would_enroll"] > 0
    monkeypatch.setattr(audience_counts, "MAX_ATTRIBUTE_GROUPS", 2)
    bounded = client.post("/admin/api/scenarios/bday/publish?dry_run=1", headers=admin_headers).get_json()
    assert bounded["estimated"] is True
