"""The one place tests make rows: scenarios stored as live versions, friends, enrollments at a
step, an emptied database, and a call inside its own transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db
from app.models.base import Base
from app.models.delivery import Delivery, Enrollment
from app.models.friends import Friend, FriendTag
from app.models.scenarios import Scenario, ScenarioVersion
from app.scenarios import store as definitions
from app.scenarios.schema import ScenarioDef

T0 = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo
R = TypeVar("R")
M = TypeVar("M")


def scenario_doc(scenario_id: str = "welcome", **overrides: Any) -> dict[str, Any]:
    """A small live follow scenario: three steps at 0 s, 1 h and 1 day."""
    doc: dict[str, Any] = {
        "id": scenario_id, "name": scenario_id, "status": "live", "timezone": "UTC",
        "start": {"trigger": "follow", "from": "followed_at"},
        "steps": [
            {"id": "hello", "at": {"after": "0s"}, "messages": [{"text": "hello {display_name}"}]},
            {"id": "tips", "at": {"after": "1h"}, "messages": [{"text": "tips"}]},
            {"id": "offer", "at": {"after": "1d"}, "messages": [{"text": "offer"}]},
        ],
    }
    doc.update(overrides)
    return doc


def add_scenario(session: Session, doc: dict[str, Any] | None = None, *, status: str | None = None,
                 version: int = 1) -> ScenarioDef:
    """Store ``doc`` as ``version`` of its scenario (creating or updating the scenario row)."""
    scn = ScenarioDef.model_validate(doc or scenario_doc())
    definitions.forget(scn.id)
    scenario = session.get(Scenario, scn.id)
    if scenario is None:
        scenario = Scenario(id=scn.id, name=scn.name, channel=scn.channel, trigger=scn.start.trigger)
        session.add(scenario)
    scenario.status, scenario.priority, scenario.version = status or scn.status, scn.priority, version
    scenario.published_at = T0
    session.add(ScenarioVersion(scenario_id=scn.id, version=version, definition=scn.definition(),
                                source="test", source_name="test.yaml"))
    session.flush()
    return scn


def add_friend(session: Session, user_id: str, *, channel: str = "default", tags: tuple[str, ...] = (),
               **fields: Any) -> Friend:
    """A friend row (active, followed at T0 unless told otherwise), with ``tags``."""
    values: dict[str, Any] = {"status": "active", "attributes": {}, "opted_out": False, "followed_at": T0,
                              "created_at": T0, "updated_at": T0, **fields}
    friend = Friend(channel=channel, user_id=user_id, **values)
    session.add(friend)
    session.flush()
    session.add_all(FriendTag(friend_id=friend.id, tag=tag, created_at=T0) for tag in tags)
    return friend


def store_friend(user_id: str, *, channel: str = "default", tags: tuple[str, ...] = (), **fields: Any) -> int:
    """:func:`add_friend` in its own transaction; the friend's id."""
    with db.transaction() as session:
        return add_friend(session, user_id, channel=channel, tags=tags, **fields).id


def in_tx(call: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """``call(session, *args, **kwargs)`` in a transaction of its own (a use case's view of a domain call)."""
    with db.transaction() as session:
        return call(session, *args, **kwargs)


def empty_all_tables() -> None:
    """Delete every row of every table (children first)."""
    with db.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())


def add_enrollment(session: Session, friend: Friend, scenario_id: str, *, step: str = "hello",
                   run_at: datetime = T0, start_at: datetime = T0, cycle: int = 1, version: int = 1) -> Enrollment:
    enrollment = Enrollment(friend_id=friend.id, scenario_id=scenario_id, scenario_version=version, cycle=cycle,
                            status="active", start_at=start_at, next_step_id=step, next_run_at=run_at,
                            created_at=start_at)
    session.add(enrollment)
    session.flush()
    return enrollment


def population(n: int, *, scenario: dict[str, Any] | None = None, prefix: str = "U",
               names: bool = True) -> list[int]:
    """``n`` friends enrolled at the first step, due at T0; returns enrollment ids."""
    ids = []
    with db.transaction() as session:
        scn = add_scenario(session, scenario)
        for i in range(n):
            friend = add_friend(session, f"{prefix}{i:032d}"[:33],
                                display_name=f"name{i}" if names else None)
            ids.append(add_enrollment(session, friend, scn.id, step=scn.steps[0].id).id)
    return ids


def stored(model: type[M], key: Any) -> M:
    """One stored row by primary key (it must exist)."""
    with db.session() as session:
        row = session.get(model, key)
        assert row is not None, f"no {model.__name__} {key!r}"
        return row


def stored_all(model: type[M], **where: Any) -> list[M]:
    """Every stored row of ``model`` whose columns equal ``where``, by id."""
    with db.session() as session:
        statement = sa.select(model).order_by(model.id)  # type: ignore[attr-defined]
        for key, value in where.items():
            statement = statement.where(getattr(model, key) == value)
        return list(session.scalars(statement))


def deliveries(**where: Any) -> list[Delivery]:
    return stored_all(Delivery, **where)


def enrollment(enrollment_id: int) -> Enrollment:
    return stored(Enrollment, enrollment_id)
