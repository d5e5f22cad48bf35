"""Scheduler tick cost against the size of the schedule (PostgreSQL).

    python -m bench.scheduler [--sizes 1000000,10000000] [--due 1000] [--rounds 5] [--budget-seconds 1500]

Seeds one live three-step scenario and N active enrollments (one friend each) waiting at a
future step, spread over the next 30 days; ANALYZE. Each round then adds ``--due`` fresh
enrollments due now and times one claim = ``claim(session, now, limit=due)`` + commit
(claim with FOR UPDATE SKIP LOCKED, outbox rows, advance). Prints the median against the
target (≤ 100 ms), then grows the schedule to the next size and repeats; the last line is the
ratio between the largest and smallest size (≈ 1 means the tick does not grow with friends).

It also EXPLAINs the claim query as the code issues it (first plan line, and whether the
partial index ix_enrollments_due is used), and reads Redis ``used_memory`` before seeding and
after the first size plus a real ``tick()`` with RQ enqueue: the schedule lives in SQL, so Redis
stays flat. Uses a fresh database (dropped at the end) and Redis db ``--redis-url`` (flushed).
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from datetime import timedelta
from typing import Any

import redis
import sqlalchemy as sa

from app.delivery import claim as claims
from app.extensions import db, redis_handle
from app.migrate import upgrade_to_head
from app.models.base import utcnow
from app.services.delivery import schedule_due
from bench import seed
from bench.common import drop_database, fresh_postgres_database, report

TARGET_MS = 100.0
CLAIM_MARK = "FOR UPDATE SKIP LOCKED"


class ClaimCapture:
    """Remembers the SQL and parameters of the claim SELECT the scheduler really sends."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statement: str | None = None
        self.parameters: Any = None
        self.engine = engine
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if CLAIM_MARK in statement and "enrollments" in statement and self.statement is None:
            self.statement, self.parameters = statement, parameters


def explain(engine: sa.Engine, capture: ClaimCapture, now: Any) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the captured claim query at ``now``; rolled back (locks released)."""
    if capture.statement is None:
        return ["(claim query not captured)"]
    parameters = capture.parameters
    if isinstance(parameters, dict):
        parameters = {k: (now if hasattr(v, "tzinfo") else v) for k, v in parameters.items()}
    else:
        parameters = tuple(now if hasattr(v, "tzinfo") else v for v in parameters)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + capture.statement, parameters)
        lines = [row[0] for row in cursor.fetchall()]
        raw.rollback()
    finally:
        raw.close()
    return lines


def timed_claim(due: int) -> tuple[float, int, int]:
    """One claim + commit: (seconds, enrollments claimed, deliveries written)."""
    now = utcnow()
    started = time.perf_counter()
    with db.transaction() as session:
        claim = claims.claim(session, now, limit=due)
    return time.perf_counter() - started, claim.enrollments, len(claim.delivery_ids)


def redis_memory(client: redis.Redis) -> tuple[int, int]:
    return int(client.info("memory")["used_memory"]), int(client.dbsize())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000",
                        help="comma-separated schedule sizes (active enrollments), grown in order")
    parser.add_argument("--scale", type=int, default=None, help="shortcut: one size only (e.g. 1000000)")
    parser.add_argument("--due", type=int, default=1000, help="enrollments due per round (= claim limit)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per size (median reported)")
    parser.add_argument("--budget-seconds", type=float, default=1500.0,
                        help="skip a larger size when its estimated seeding time would pass this total")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12", help="a dedicated db (flushed)")
    parser.add_argument("--keep", action="store_true", help="keep the database (prints its URL)")
    args = parser.parse_args()
    sizes = [args.scale] if args.scale else [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    started_all = time.perf_counter()

    url = fresh_postgres_database("stepline_bench_sched")
    rclient = redis.Redis.from_url(args.redis_url)
    rclient.flushdb()
    medians: dict[int, float] = {}
    try:
        upgrade_to_head(url)
        db.bind(url)
        redis_handle.bind(args.redis_url)
        engine = db.engine
        capture = ClaimCapture(engine)
        scn = seed.add_live_scenario(engine, seed.scenario_doc("bench", steps=3))
        first_step, waiting_step = scn.steps[0].id, scn.steps[1].id
        mem_before = redis_memory(rclient)

        seeded = 0
        rate: float | None = None  # rows/s of the last seeding
        print(f"database=postgres due/round={args.due} rounds={args.rounds} sizes={sizes}")
        for index, size in enumerate(sizes):
            grow = size - seeded
            if rate and grow > 0:
                estimate = grow / rate
                spent = time.perf_counter() - started_all
                if spent + estimate > args.budget_seconds:
                    print(f"skipping {size:,}: seeding ~{estimate:.0f} s would pass the budget "
                          f"({spent:.0f} s spent of {args.budget_seconds:.0f} s)")
                    break
            if grow > 0:
                took = seed.seed_population(engine, scn.id, waiting_step, count=grow, first_index=seeded,
                                            future_from=utcnow() + timedelta(hours=1))
                rate = grow / took
                seeded = size
                analyze_started = time.perf_counter()
                seed.analyze(engine)
                print(f"seeded {grow:,} friends + enrollments in {took:.1f} s ({rate:,.0f} rows/s); "
                      f"ANALYZE {time.perf_counter() - analyze_started:.1f} s")

            if index == 0:  # Redis: the whole schedule is in SQL, a tick with nothing due adds nothing
                from workers.queues import DELIVERIES, enqueue

                def enqueue_send(ids: list[int]) -> bool:  # what workers.delivery_jobs.enqueue_send does
                    return enqueue(DELIVERIES, "workers.delivery_jobs.send_deliveries", list(ids))  # type: ignore[arg-type]

                schedule_due(utcnow(), enqueue_send)
                mem_after = redis_memory(rclient)
                print(f"redis used_memory before seeding: {mem_before[0]:,} B (keys in bench db: {mem_before[1]})")
                print(f"redis used_memory with {size:,} scheduled steps (after a tick): {mem_after[0]:,} B "
                      f"(keys in bench db: {mem_after[1]}; delta {mem_after[0] - mem_before[0]:+,} B "
                      f"= {(mem_after[0] - mem_before[0]) / size:+.4f} B per scheduled step)")

            # warm-up round (also captures the claim SQL), then EXPLAIN with due rows present
            seed.seed_population(engine, scn.id, first_step, count=args.due, first_index=10**9 + index * 10**6,
                                 due_at=utcnow() - timedelta(seconds=1))
            timed_claim(args.due)
            base = 10**9 + index * 10**6 + args.due
            seed.seed_population(engine, scn.id, first_step, count=args.due, first_index=base,
                                 due_at=utcnow() - timedelta(seconds=1))
            plan = explain(engine, capture, utcnow())
            uses_index = any("ix_enrollments_due" in line for line in plan)
            print(f"EXPLAIN claim @ {size:,}: {plan[0].strip()}")
            scan = next((line.strip() for line in plan if re.search(r"Index|Seq Scan", line)), "")
            print(f"  scan: {scan}")
            print(f"  ix_enrollments_due used: {'yes' if uses_index else 'NO'}; "
                  f"{next((row.strip() for row in plan if row.startswith('Execution Time')), '')}")

            times: list[float] = []
            for round_no in range(args.rounds):
                if round_no:  # round 0 reuses the rows seeded for EXPLAIN
                    seed.seed_population(engine, scn.id, first_step, count=args.due,
                                         first_index=base + round_no * args.due,
                                         due_at=utcnow() - timedelta(seconds=1))
                seconds, claimed, written = timed_claim(args.due)
                if claimed != args.due or written != args.due:
                    print(f"  round {round_no}: claimed {claimed}, wrote {written} (expected {args.due})")
                times.append(seconds * 1000)
            median = statistics.median(times)
            medians[size] = median
            print(f"rounds @ {size:,}: " + ", ".join(f"{t:.1f}" for t in times) + " ms")
            report(f"tick (claim {args.due:,} + outbox + advance + commit) @ {size:,} enrollments, median",
                   median, "ms", TARGET_MS, higher_is_better=False)

        if len(medians) >= 2:
            small, large = min(medians), max(medians)
            print(f"flatness: median @ {large:,} / median @ {small:,} = {medians[large] / medians[small]:.2f} "
                  f"(schedule {large // small}x larger; 1.00 = flat)")
        print(f"total {time.perf_counter() - started_all:.0f} s")
    finally:
        db.dispose()
        rclient.flushdb()
        if args.keep:
            print(f"database kept: {url}")
        else:
            drop_database(url)
    return 0 if medians and all(m <= TARGET_MS for m in medians.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
