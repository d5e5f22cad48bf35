"""The benchmarks' cores at tiny N (seconds), so bench/ cannot rot: seeding, claim + EXPLAIN,
the burst/measure helpers of the delivery bench with an in-process send, the bare ceiling and the
outbox floor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.line.client import LineClient
from app.models.base import utcnow
from app.scenarios import store as definitions
from app.services.delivery import schedule_due
from app.services.sending import send_batch
from bench import delivery, outbox_floor, recipient_cost, scheduler, seed
from linesim.testing import run_simulator


@pytest.fixture()
def bench_scenario(app: Flask) -> Iterator[str]:
    definitions.forget("bench")
    yield "bench"
    definitions.forget("bench")


def test_scheduler_bench_core(bench_scenario: str) -> None:
    engine = db.engine
    scn = seed.add_live_scenario(engine, seed.scenario_doc(bench_scenario, steps=3))
    if engine.dialect.name == "postgresql":
        seed.seed_population(engine, scn.id, scn.steps[1].id, count=500, future_from=utcnow() + timedelta(hours=1))
    seed.seed_population(engine, scn.id, scn.steps[0].id, count=300, first_index=10_000,
                         due_at=utcnow() - timedelta(seconds=1))
    seed.analyze(engine)
    capture = scheduler.ClaimCapture(engine)
    try:
        seconds, claimed, written = scheduler.timed_claim(100)
        assert (claimed, written) == (100, 100) and seconds > 0
        if engine.dialect.name == "postgresql":
            plan = scheduler.explain(engine, capture, utcnow())
            assert plan[0].startswith("Limit") and any("enrollments" in line for line in plan)
    finally:
        capture.close()
    assert scheduler.timed_claim(1000)[1] == 200  # the rest of the due rows; the future ones stay


def test_delivery_bench_core(bench_scenario: str) -> None:
    engine = db.engine
    with run_simulator(access_token="smoke-token") as sim:
        scn = seed.add_live_scenario(engine, seed.scenario_doc(bench_scenario))
        seed.seed_population(engine, scn.id, scn.steps[0].id, count=40, due_at=utcnow() + timedelta(days=1))
        due = utcnow() - timedelta(seconds=1)
        assert seed.make_due(engine, due)[0] == 40
        jobs: list[list[int]] = []
        schedule_due(utcnow(), lambda ids: jobs.append(ids) or True, job_size=25)
        client = LineClient(sim.base_url, "smoke-token", pool_size=16)
        for job in jobs:
            send_batch(lambda _channel: client, job)
        assert delivery._status_counts(engine) == {"sent": 40}
        sent, wall, lateness = delivery._figures(engine)
        assert sent == 40 and wall >= 0 and len(lateness) == 40 and min(lateness) > 0
        assert sim.stats()["deliveries"] == 40
        rate, ok, other = delivery.bare_ceiling(sim, 0.3, procs=1, pool_size=2, token="smoke-token")
        assert ok > 0 and other == 0 and rate > 0


def test_outbox_floor_core(app: Flask, database_url: str) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the floor measures PostgreSQL")
    definitions.forget("floor")
    rate = outbox_floor.measure(database_url, 1200, procs=2)  # three batches split over two processes
    with db.engine.connect() as connection:
        statuses = dict(connection.execute(sa.text("SELECT status, count(*) FROM deliveries GROUP BY status")).all())
        advanced = connection.execute(sa.text("SELECT count(*) FROM enrollments WHERE status = 'completed'")).scalar()
    assert statuses == {"sent": 1200} and advanced == 1200 and rate > 0
    definitions.forget("floor")


def test_recipient_cost_core(app: Flask) -> None:
    definitions.forget("cost")
    with run_simulator(access_token="smoke-token") as sim:
        client = LineClient(sim.base_url, "smoke-token", pool_size=2)
        totals = recipient_cost.measure(600, False, lambda _channel: client)  # one multicast of 500 + 100
        assert sim.stats()["deliveries"] == 2
    assert set(totals) == {"claim", "send"} and all(value > 0 for value in totals.values())
    assert delivery._status_counts(db.engine) == {"sent": 600}
    definitions.forget("cost")


def test_friends_bench_core(app: Flask) -> None:
    """bench/friends.py's phases at 300 friends (PostgreSQL: the seed is PostgreSQL SQL)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("bench/friends.py seeds with PostgreSQL SQL")
    from bench import friends as friends_bench

    definitions.forget("bench-manual")
    assert friends_bench.seed(300) > 0
    assert len(friends_bench.bench_count_and_page(2)) == 2
    friends_bench.bench_bulk_tag()
    friends_bench.bench_enroll_segment()
    friends_bench.bench_export(300)
    friends_bench.bench_import(100)
    definitions.forget("bench-manual")
