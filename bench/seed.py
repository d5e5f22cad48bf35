"""Bulk seeding for the benchmarks: a live scenario, then friends with one active enrollment each.

Rows are generated inside the database (``generate_series`` on PostgreSQL, a recursive CTE on
SQLite), so a million friends + enrollments take seconds, not the minutes an ORM loop would.
Every NOT NULL column is written explicitly: the models' defaults live in Python, not in the DDL.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.models.base import UTCDateTime, utcnow
from app.models.scenarios import Scenario, ScenarioVersion
from app.scenarios.schema import ScenarioDef

CHANNEL = "default"
FUTURE_SPREAD_SECONDS = 30 * 86400  # "not due" rows are spread over the next 30 days


def scenario_doc(scenario_id: str = "bench", *, personalised: bool = True, steps: int = 1) -> dict[str, Any]:
    """A live follow scenario. Step 1 at 0 s ({display_name} in it when ``personalised``, so every
    push differs; identical text otherwise, so the sender groups multicasts); later steps daily."""
    text = "{display_name}さん、ようこそ!" if personalised else "ようこそ!ステップ配信のベンチマークです。"
    doc_steps = [{"id": "s1", "at": {"after": "0s"}, "messages": [{"text": text}]}]
    doc_steps += [{"id": f"s{i}", "at": {"after": f"{i - 1}d"}, "messages": [{"text": f"step {i}"}]}
                  for i in range(2, steps + 1)]
    return {"id": scenario_id, "name": scenario_id, "status": "live", "timezone": "UTC",
            "start": {"trigger": "follow", "from": "followed_at"}, "steps": doc_steps}


def add_live_scenario(engine: sa.Engine, doc: dict[str, Any]) -> ScenarioDef:
    """Insert the scenario row and its version 1 (live), as an upload would leave them."""
    scn = ScenarioDef.model_validate(doc)
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(sa.insert(Scenario).values(
            id=scn.id, name=scn.name, channel=scn.channel, status="live", priority=scn.priority,
            trigger=scn.start.trigger, version=1, published_at=now, created_at=now, updated_at=now))
        connection.execute(sa.insert(ScenarioVersion).values(
            scenario_id=scn.id, version=1, definition=scn.definition(), source="bench", source_name="bench.yaml",
            created_at=now))
    return scn


def _series(dialect: str) -> str:
    if dialect == "postgresql":
        return "SELECT g AS i FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g"
    return "WITH RECURSIVE s(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM s WHERE i < :last) SELECT i FROM s"


def seed_population(engine: sa.Engine, scenario_id: str, step_id: str, *, count: int, first_index: int = 0,
                    due_at: datetime | None = None, future_from: datetime | None = None,
                    chunk: int = 1_000_000) -> float:
    """Add ``count`` friends (``user_id`` U + 32 hex digits of the index, ``display_name`` name<i>),
    each with an active enrollment at ``step_id`` of ``scenario_id``.

    ``due_at``: every enrollment runs at that instant. Otherwise (``future_from`` given, PostgreSQL)
    they run between ``future_from`` and 30 days later, spread by index. Returns seconds taken.
    """
    if (due_at is None) == (future_from is None):
        raise ValueError("give exactly one of due_at / future_from")
    dialect = engine.dialect.name
    if future_from is not None and dialect != "postgresql":
        raise ValueError("future_from needs PostgreSQL (use due_at on SQLite)")
    started = time.perf_counter()
    now = utcnow()
    if due_at is not None:
        run_at = ":due_at"
    else:
        run_at = f"CAST(:future_from AS timestamptz) + ((f.id % {FUTURE_SPREAD_SECONDS}) * interval '1 second')"
    false = "false" if dialect == "postgresql" else "0"
    empty = "'{}'::jsonb" if dialect == "postgresql" else "'{}'"
    dt = UTCDateTime()
    for start in range(first_index, first_index + count, chunk):
        last = min(first_index + count, start + chunk) - 1
        with engine.begin() as connection:
            if dialect == "postgresql":
                connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
            before = connection.execute(sa.text("SELECT coalesce(max(id), 0) FROM friends")).scalar_one()
            hexid = ("lpad(to_hex(i), 32, '0')" if dialect == "postgresql" else "printf('%032x', i)")
            connection.execute(sa.text(
                f"INSERT INTO friends (channel, user_id, display_name, status, followed_at, opted_out, attributes, "
                f"created_at, updated_at) "
                f"SELECT :channel, 'U' || {hexid}, 'name' || i, 'active', :now, {false}, {empty}, :now, :now "
                f"FROM ({_series(dialect)}) AS series"
            ).bindparams(sa.bindparam("now", type_=dt)),
                {"channel": CHANNEL, "now": now, "first": start, "last": last})
            statement = sa.text(
                f"INSERT INTO enrollments (friend_id, scenario_id, scenario_version, cycle, status, start_at, "
                f"next_step_id, next_run_at, created_at) "
                f"SELECT f.id, :scenario, 1, 1, 'active', :now, :step, {run_at}, :now FROM friends AS f "
                f"WHERE f.id > :before ORDER BY f.id"
            )
            params: dict[str, Any] = {"scenario": scenario_id, "now": now, "step": step_id, "before": before}
            binds = [sa.bindparam("now", type_=dt)]
            if due_at is not None:
                binds.append(sa.bindparam("due_at", type_=dt))
                params["due_at"] = due_at
            else:
                binds.append(sa.bindparam("future_from", type_=dt))
                params["future_from"] = future_from
            connection.execute(statement.bindparams(*binds), params)
    return time.perf_counter() - started


def analyze(engine: sa.Engine) -> None:
    """Fresh planner statistics (PostgreSQL: ANALYZE outside a transaction; SQLite: ANALYZE)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")


def make_due(engine: sa.Engine, due_at: datetime) -> tuple[int, float]:
    """Point every active enrollment at ``due_at`` (start a burst); (rows, seconds)."""
    started = time.perf_counter()
    with engine.begin() as connection:
        result = connection.execute(
            sa.text("UPDATE enrollments SET next_run_at = :due WHERE status = 'active'")
            .bindparams(sa.bindparam("due", type_=UTCDateTime())), {"due": due_at})
    return int(result.rowcount or 0), time.perf_counter() - started


def spread_due(engine: sa.Engine, first_due: datetime, rate: float) -> tuple[int, float]:
    """Spread the active enrollments' run times at ``rate`` per second from ``first_due`` (id order)."""
    started = time.perf_counter()
    with engine.begin() as connection:
        ids = [row[0] for row in connection.execute(sa.text(
            "SELECT id FROM enrollments WHERE status = 'active' ORDER BY id"))]
        params = [{"e_id": e_id, "due": first_due + timedelta(seconds=index / rate)} for index, e_id in enumerate(ids)]
        statement = sa.text("UPDATE enrollments SET next_run_at = :due WHERE id = :e_id").bindparams(
            sa.bindparam("due", type_=UTCDateTime()))
        for begin in range(0, len(params), 10_000):
            connection.execute(statement, params[begin:begin + 10_000])
    return len(ids), time.perf_counter() - started
