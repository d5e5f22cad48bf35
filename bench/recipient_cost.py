"""What one recipient costs the pipeline, measured sequentially, statement by statement.

    python -m bench.recipient_cost [--friends 40000] [--personalised]

Seeds N friends due now on a fresh PostgreSQL database, then in this one process: the
scheduler's claims (``claim``, 1,000 per transaction) and the sender's batches
(``send_batch`` on the claimed ids, 500 per job, one thread) into the LINE simulator. Prints
microseconds per recipient for each phase, the database time of each statement kind within it
(measured around the driver's execute; the rest is Python, commits and HTTP), and the time the
cycle collector took. Nothing runs concurrently, so the figures add up: the multicast target of
20,000 recipients/s on 2 cores leaves 100 µs of CPU per recipient for claim + send + everything
else, which is the budget printed. ``--personalised``: every push differs (no multicast).
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import redis
import sqlalchemy as sa

from app.extensions import db, redis_handle
from app.line.client import LineClient
from app.migrate import upgrade_to_head
from app.models.base import utcnow
from app.services.delivery import schedule_due
from app.services.sending import send_batch
from bench import seed
from bench.common import drop_database, fresh_postgres_database, report
from linesim.testing import start_subprocess
from workers.runtime import keep_collector_off_preloaded_objects

TOKEN = "bench-cost-token"
CORES = 2
MULTICAST_TARGET = 20_000.0
SEND_JOB = 500


class StatementClock:
    """Database time per statement kind (its first words), read around the driver's execute."""

    def __init__(self, engine: sa.Engine) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._started = 0.0
        self._engine = engine
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def close(self) -> None:
        sa.event.remove(self._engine, "before_cursor_execute", self._before)
        sa.event.remove(self._engine, "after_cursor_execute", self._after)

    def _before(self, *_args: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seconds[" ".join(statement.split()[:4])[:60]] += time.perf_counter() - self._started

    def take(self) -> dict[str, float]:
        taken, self.seconds = dict(self.seconds), defaultdict(float)
        return taken


class CollectorClock:
    """Seconds the cycle collector ran."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def close(self) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def take(self) -> float:
        taken, self.seconds = self.seconds, 0.0
        return taken


@contextmanager
def _timed(label: str, recipients: int, statements: StatementClock, collector: CollectorClock,
           totals: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    totals[label] = seconds / recipients * 1e6
    print(f"{label}: {totals[label]:.1f} µs per recipient ({seconds:.2f} s for {recipients:,}); "
          f"cycle collector {collector.take() / recipients * 1e6:.1f} µs")
    for statement, spent in sorted(statements.take().items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {spent / recipients * 1e6:6.1f} µs  {statement}")


def _claim_all(now: Any) -> list[int]:
    """The scheduler's ticks until nothing is due; the delivery ids its send jobs would carry."""
    ids: list[int] = []

    def collect(job: list[int]) -> bool:
        ids.extend(job)
        return True

    while schedule_due(now, collect):
        pass
    return ids


def measure(friends: int, personalised: bool, client_for: Callable[[str], LineClient]) -> dict[str, float]:
    """Claim then send ``friends`` due recipients on the bound database; µs per recipient by phase."""
    engine = db.engine
    scn = seed.add_live_scenario(engine, seed.scenario_doc("cost", personalised=personalised))
    seed.seed_population(engine, scn.id, scn.steps[0].id, count=friends, due_at=utcnow() - timedelta(seconds=1))
    seed.analyze(engine)
    statements, collector = StatementClock(engine), CollectorClock()
    totals: dict[str, float] = {}
    try:
        with _timed("claim", friends, statements, collector, totals):
            ids = _claim_all(utcnow())
        with _timed("send", friends, statements, collector, totals):
            for start in range(0, len(ids), SEND_JOB):
                send_batch(client_for, ids[start:start + SEND_JOB], threads=1)
    finally:
        statements.close()
        collector.close()
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--friends", type=int, default=40_000)
    parser.add_argument("--personalised", action="store_true", help="every push differs (no multicast)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="a dedicated db (flushed)")
    args = parser.parse_args()
    sim = start_subprocess(access_token=TOKEN)
    url = fresh_postgres_database("stepline_bench_cost")
    try:
        upgrade_to_head(url)
        db.bind(url)
        redis_handle.bind(args.redis_url)  # the rate limiter's
        keep_collector_off_preloaded_objects()  # as the worker and scheduler processes do
        client = LineClient(sim.base_url, TOKEN)
        totals = measure(args.friends, args.personalised, lambda _channel: client)
        db.dispose()
    finally:
        redis.Redis.from_url(args.redis_url).flushdb()
        sim.stop()
        drop_database(url)
    budget = CORES * 1e6 / MULTICAST_TARGET
    report("claim + send per recipient", sum(totals.values()), "µs", budget, higher_is_better=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
