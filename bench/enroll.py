"""Benchmark: enroll an ``audience: all`` scenario's existing friends on PostgreSQL.

    python bench/enroll.py [--friends 1000000] [--database-url postgresql://postgres@127.0.0.1/stepline_bench]

Creates (drops first) the database, migrates it, inserts N friends server-side, publishes a
scenario per start mode (``followed_at``: a start date per friend; ``trigger_time``: one shared
due time) and times the dry run's measure (``audience_impact``, counted in SQL, which must predict
the count and agree with ``scanned_impact``, the friend-by-friend walk it replaced) and
``enroll_audience``. Prints enrollments/s against the 20,000/s target and the
peak RSS before and after, which must not grow with N (batches are streamed).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import normalize_database_url  # noqa: E402
from app.delivery.audience import audience_impact, enroll_audience, scanned_impact  # noqa: E402
from app.extensions import db  # noqa: E402
from app.migrate import upgrade_to_head  # noqa: E402
from app.models.scenarios import Scenario  # noqa: E402
from app.scenarios.store import definition_for  # noqa: E402
from app.services import scenarios as service  # noqa: E402

TARGET = 20_000
NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
SCENARIO = """\
id: {id}
name: bench {id}
status: draft
timezone: Asia/Tokyo
start: {{trigger: follow, from: {start_from}, audience: all}}
send_window: {{from: "09:00", to: "21:00"}}
steps:
  - id: hello
    at: {{after: 1h}}
    messages: [{{text: "hello {{display_name}}"}}]
  - id: later
    at: {{day: 2, time: "10:00"}}
    messages: [{{text: later}}]
"""


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def fresh_database(url: str) -> None:
    """Drop and create the bench database, then migrate it to head."""
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    upgrade_to_head(url)


def insert_friends(count: int) -> float:
    """N active friends in one server-side statement; returns seconds taken."""
    started = time.perf_counter()
    with db.transaction() as session:
        session.execute(sa.text(
            "INSERT INTO friends (channel, user_id, status, opted_out, attributes, followed_at, created_at, updated_at)"
            " SELECT 'default', 'U' || lpad(g::text, 32, '0'), 'active', false, '{}'::jsonb,"
            " :now - make_interval(mins => g % 100000), :now, :now FROM generate_series(1, :n) AS g"),
            {"n": count, "now": NOW})
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE friends"))
    return time.perf_counter() - started


def run_one(scenario_id: str, start_from: str, count: int, batch_size: int) -> float:
    service.upload([(f"{scenario_id}.yaml", SCENARIO.format(id=scenario_id, start_from=start_from))], NOW)
    with db.transaction() as session:
        session.execute(sa.text("UPDATE scenarios SET status = 'live', published_at = :now WHERE id = :id"),
                        {"now": NOW, "id": scenario_id})
    with db.session() as session:  # the dry run's audience measure (SPEC §11) over the same friends
        scenario = session.get(Scenario, scenario_id)
        assert scenario is not None
        scn = definition_for(session, scenario_id, scenario.version)
        started = time.perf_counter()
        measured = audience_impact(session, scenario, scn, NOW)
        impact_seconds = time.perf_counter() - started
        started = time.perf_counter()
        walked = scanned_impact(session, scenario, scn, NOW, batch_size=batch_size)
        walk_seconds = time.perf_counter() - started
    print(f"[from: {start_from}] dry run: would_enroll {measured.would_enroll:,}, messages_due_now "
          f"{measured.messages_due_now:,} in {impact_seconds:.3f} s counted in SQL "
          f"(friend by friend: {walk_seconds:.2f} s, {count / walk_seconds:,.0f} friends/s)")
    if (walked.would_enroll, walked.messages_due_now) != (measured.would_enroll, measured.messages_due_now):
        raise SystemExit(f"counted dry run {measured} disagrees with the walk {walked}")
    rss_before = peak_rss_mib()
    started = time.perf_counter()
    with db.session() as session:
        enrolled = enroll_audience(session, scenario_id, NOW, batch_size=batch_size, commit=True)
        session.commit()
    seconds = time.perf_counter() - started
    rate = enrolled / seconds
    print(f"[from: {start_from}] {enrolled:,} enrollments in {seconds:.2f} s (batch {batch_size})")
    print(f"  enrollments/s: {rate:,.0f} (target ≥ {TARGET:,}, ratio {rate / TARGET:.2f})")
    print(f"  peak RSS: {rss_before:.1f} MiB before, {peak_rss_mib():.1f} MiB after")
    if enrolled != count or measured.would_enroll != enrolled:
        raise SystemExit(f"expected {count} enrollments (dry run said {measured.would_enroll}), got {enrolled}")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/stepline_bench")
    parser.add_argument("--friends", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args(argv)
    url = normalize_database_url(args.database_url)
    if not url.startswith("postgresql"):
        raise SystemExit("this benchmark targets PostgreSQL")
    fresh_database(url)
    db.bind(url)
    print(f"{args.friends:,} friends inserted in {insert_friends(args.friends):.1f} s; "
          f"peak RSS {peak_rss_mib():.1f} MiB")
    rates = [run_one("bench-followed", "followed_at", args.friends, args.batch_size),
             run_one("bench-trigger", "trigger_time", args.friends, args.batch_size)]
    db.dispose()
    return 0 if min(rates) >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
