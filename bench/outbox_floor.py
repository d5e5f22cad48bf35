"""The database floor of a multicast burst: the least SQL an exactly-once outbox costs per recipient.

    python -m bench.outbox_floor [--friends 50000] [--procs 2]

SPEC §3 writes one delivery row per recipient with its retry key, advances the enrollment in the
same transaction, and records each row's outcome. The floor does only that, in bulk, with nothing
else running: for each batch of 500 due enrollments, (1) INSERT the outbox rows (fresh keys) from
the enrollments and advance them, commit; (2) lock the rows with their friends, commit; (3) mark
them sent, commit — in ``--procs`` processes at once over disjoint batches, the same schema and
indexes as the app, no rendering, no Redis, no HTTP. Its recipients/s is the most this machine's
PostgreSQL can carry through the outbox; ``bench.delivery --multicast`` prints its figure as a
ratio to this floor next to the issue's 20,000/s.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from app.config import normalize_database_url
from app.migrate import upgrade_to_head
from app.models.base import utcnow
from bench import seed
from bench.common import drop_database, fresh_postgres_database

BATCH = 500  # one multicast

_CLAIM = """
INSERT INTO deliveries (enrollment_id, friend_id, scenario_id, scenario_version, step_id, cycle, visit, channel,
                        priority, retry_key, status, due_at, created_at, enqueued_at, attempts, quota_reserved, is_test)
SELECT en.id, en.friend_id, en.scenario_id, en.scenario_version, en.next_step_id, en.cycle, en.jumps, 'default', 0,
       CAST(gen_random_uuid() AS varchar), 'queued', en.next_run_at, now(), now(), 0, false, false
FROM enrollments AS en WHERE en.id = ANY(%s)
RETURNING id"""
_ADVANCE = "UPDATE enrollments SET status = 'completed', next_run_at = NULL, finished_at = now() WHERE id = ANY(%s)"
_LOCK = """SELECT d.id, f.user_id FROM deliveries AS d JOIN friends AS f ON f.id = d.friend_id
WHERE d.id = ANY(%s) FOR UPDATE OF d"""
_SENT = """UPDATE deliveries SET status = 'sent', sent_at = now(), line_request_id = 'floor', next_attempt_at = NULL,
       quota_reserved = true WHERE id = ANY(%s)"""


def _run_batches(url: str, enrollment_ids: list[int], ready: Any, go: Any, out: Any) -> None:
    engine = sa.create_engine(normalize_database_url(url))
    connection = engine.raw_connection()
    cursor = connection.cursor()
    ready.release()
    go.wait()
    for start in range(0, len(enrollment_ids), BATCH):
        batch = enrollment_ids[start:start + BATCH]
        cursor.execute(_CLAIM, (batch,))
        delivery_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(_ADVANCE, (batch,))
        connection.commit()
        cursor.execute(_LOCK, (delivery_ids,))
        cursor.fetchall()
        connection.commit()
        cursor.execute(_SENT, (delivery_ids,))
        connection.commit()
    connection.close()
    engine.dispose()
    out.put((len(enrollment_ids), time.time()))


def measure(url: str, friends: int, procs: int) -> float:
    """Recipients/s through the bare outbox SQL on the migrated, empty database at ``url``."""
    engine = sa.create_engine(normalize_database_url(url))
    scn = seed.add_live_scenario(engine, seed.scenario_doc("floor", personalised=False))
    seed.seed_population(engine, scn.id, scn.steps[0].id, count=friends, due_at=utcnow() - timedelta(seconds=1))
    seed.analyze(engine)
    with engine.connect() as connection:
        ids = [row[0] for row in connection.execute(sa.text("SELECT id FROM enrollments ORDER BY id"))]
    engine.dispose()
    batches = [ids[start:start + BATCH] for start in range(0, len(ids), BATCH)]
    context = mp.get_context("spawn")
    out, ready, go = context.Queue(), context.Semaphore(0), context.Event()
    workers = [context.Process(target=_run_batches, args=(url, [i for b in batches[n::procs] for i in b],
                                                          ready, go, out)) for n in range(procs)]
    for process in workers:
        process.start()
    for _ in workers:  # connected and imported: only the SQL is timed
        ready.acquire(timeout=120)
    started = time.time()
    go.set()
    results = [out.get(timeout=600) for _ in workers]
    for process in workers:
        process.join(30)
    return sum(done for done, _ in results) / (max(ended for _, ended in results) - started)


def floor_on_fresh_database(friends: int, procs: int) -> float:
    """:func:`measure` on a database created, migrated and dropped here."""
    url = fresh_postgres_database("stepline_bench_floor")
    try:
        upgrade_to_head(url)
        return measure(url, friends, procs)
    finally:
        drop_database(url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--friends", type=int, default=50_000)
    parser.add_argument("--procs", type=int, default=2, help="processes at once (the benchmark's workers)")
    args = parser.parse_args()
    rate = floor_on_fresh_database(args.friends, args.procs)
    print(f"outbox database floor: {rate:,.0f} recipients/s ({args.friends:,} recipients, {args.procs} procs, "
          f"batches of {BATCH}); the multicast target is 20,000/s, ratio {rate / 20_000:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
