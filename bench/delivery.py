"""Delivery throughput and lateness, end to end, with the real scheduler and RQ worker processes.

    python -m bench.delivery [--friends 100000] [--latency-ms 0|30] [--multicast | --tracked-links] [--workers 2]
                             [--database postgres|sqlite] [--spread-rate R] [--ceiling-seconds 10]

1. Starts the LINE simulator in its own process (LINE's default limits: push 2,000 req/s,
   multicast 200 req/s; ``--latency-ms`` per request, 30 ≈ LINE's real round trip).
2. Ceiling: a bare push loop (the app's ``LineClient`` = line-bot-sdk v3, same pool size as the
   app's client, one thread per pooled connection, ``--workers`` processes, no DB, no Redis)
   for ``--ceiling-seconds`` → accepted pushes/s. The simulator is reset afterwards.
   ``--multicast``: the floor instead — the bare outbox SQL per recipient on PostgreSQL, in
   ``--workers`` processes (``bench/outbox_floor.py``); 0 seconds skips either.
3. Seeds N friends, each with an active enrollment at the single step of a live scenario
   (``{display_name}`` in the text so every push differs; ``--multicast``: identical text, so
   the sender groups multicasts of ≤ 500). Starts the real scheduler and ``--workers`` RQ
   workers (devstack Stack = the Procfile's commands), then makes every enrollment due at once
   (a burst), or spreads due times at ``--spread-rate`` per second (steady load).
4. Waits until no delivery is open, then from the database: deliveries/s = sent / (last
   sent_at − first claim), lateness = sent_at − due_at (p50, p99), and checks the simulator
   received each recipient exactly once.

``--tracked-links``: the personalised step also carries a URL and the stack runs with PUBLIC_URL,
so every push has its own tracked link (SPEC §10); the same target applies (≥ 80 % of the bare
SDK loop measured in the same run).

Targets: distinct pushes ≥ min(2,000/s, 80 % of the bare ceiling); multicast ≥ 20,000
recipients/s; p99 lateness ≤ 5 s. In a burst the last of N rows cannot leave before N / rate
seconds, so burst lateness is printed next to that floor; ``--spread-rate`` measures the engine's
own lateness. Fresh PostgreSQL database (dropped) or SQLite file by default; Redis db
``--redis-url`` is flushed before and after.
"""

from __future__ import annotations

import argparse
import inspect
import multiprocessing as mp
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from rq import Worker

from app.config import normalize_database_url
from app.line import limits
from app.line.client import LineClient
from app.models.base import utcnow
from app.models.delivery import Delivery
from app.services import sending as sender
from bench import outbox_floor, seed
from bench.common import drop_database, fresh_postgres_database, percentile, report
from devstack.processes import Stack
from linesim.testing import SimulatorHandle, start_subprocess

TOKEN = "bench-delivery-token"
SECRET = "bench-delivery-secret"
FAR_FUTURE_DAYS = 3650
LATENESS_TARGET_S = 5.0
MULTICAST_TARGET = 20_000.0
TRACKING_ENV = {"PUBLIC_URL": "https://stepline.example", "LINK_SIGNING_KEY": "bench-link-signing-key"}
APP_POOL_SIZE = int(inspect.signature(LineClient.__init__).parameters["pool_size"].default)


# -- the bare ceiling ----------------------------------------------------------------------------

def _ceiling_process(base_url: str, token: str, seconds: float, threads: int, pool_size: int, out: Any) -> None:
    client = LineClient(base_url, token, pool_size=pool_size)
    deadline = time.monotonic() + seconds
    prefix = uuid.uuid4().hex[:8]

    def loop(worker: int) -> tuple[int, int]:
        ok = other = n = 0
        while time.monotonic() < deadline:
            n += 1
            result = client.push(f"U{prefix}{worker:04d}{n:020d}", [{"type": "text", "text": f"ceiling {n}"}],
                                 str(uuid.uuid4()))
            if result.status == 200:
                ok += 1
            else:
                other += 1
        return ok, other

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(loop, range(threads)))
    out.put((sum(r[0] for r in results), sum(r[1] for r in results)))


def bare_ceiling(sim: SimulatorHandle, seconds: float, procs: int, pool_size: int,
                 token: str = TOKEN) -> tuple[float, int, int]:
    """Accepted pushes/s of a bare SDK push loop (procs × pool_size threads); (rate, ok, other)."""
    context = mp.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=_ceiling_process, args=(sim.base_url, token, seconds, pool_size, pool_size, out))
               for _ in range(procs)]
    for process in workers:
        process.start()
    results = [out.get(timeout=seconds + 120) for _ in workers]
    for process in workers:
        process.join(30)
    ok, other = sum(r[0] for r in results), sum(r[1] for r in results)
    return ok / seconds, ok, other


# -- the run -------------------------------------------------------------------------------------

def _wait_ready(rclient: redis.Redis, workers: int, stack: Stack, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(Worker.all(connection=rclient)) >= workers and rclient.exists("stepline:scheduler:heartbeat"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"workers/scheduler did not come up within {timeout:g} s\n{stack.logs()}")


def _status_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT status, count(*) FROM deliveries GROUP BY status"))
        return {str(status): int(count) for status, count in rows}


def _wait_done(engine: sa.Engine, expected: int, timeout: float, stack: Stack) -> tuple[dict[str, int], bool]:
    deadline = time.monotonic() + timeout
    last_print = time.monotonic()
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = _status_counts(engine)
        finished = sum(counts.get(s, 0) for s in ("sent", "failed", "skipped", "cancelled"))
        if finished >= expected:
            return counts, True
        if time.monotonic() - last_print > 10:
            print(f"  ... {counts}", flush=True)
            last_print = time.monotonic()
        if not all(p.alive for p in stack.processes):
            print("a process died:\n" + stack.logs())
            return counts, False
        time.sleep(0.5)
    return counts, False


def _phases(engine: sa.Engine) -> str:
    """Where the time went: first and last send, counted from the first claim."""
    with engine.connect() as connection:
        row = connection.execute(sa.select(sa.func.min(Delivery.created_at), sa.func.min(Delivery.sent_at),
                                           sa.func.max(Delivery.sent_at))).one()
    first_claim, first_sent, last_sent = row
    if first_claim is None or first_sent is None or last_sent is None:
        return "phases: n/a"
    return (f"phases: first send {(first_sent - first_claim).total_seconds():.2f} s after the first claim, "
            f"last send {(last_sent - first_claim).total_seconds():.1f} s after it")


def _figures(engine: sa.Engine) -> tuple[int, float, list[float]]:
    """(sent, wall seconds from first claim to last sent, lateness seconds of each sent row)."""
    with engine.connect() as connection:
        first_claim = connection.execute(sa.select(sa.func.min(Delivery.created_at))).scalar_one()
        rows = connection.execute(sa.select(Delivery.sent_at, Delivery.due_at).where(Delivery.status == "sent")).all()
    if not rows:
        return 0, float("nan"), []
    last_sent = max(r.sent_at for r in rows)
    lateness = [(r.sent_at - r.due_at).total_seconds() for r in rows]
    return len(rows), (last_sent - first_claim).total_seconds(), lateness


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--friends", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="simulator latency per request (30 ≈ LINE)")
    parser.add_argument("--multicast", action="store_true", help="identical content: multicasts of ≤ 500")
    parser.add_argument("--tracked-links", action="store_true",
                        help="a URL in the personalised step and PUBLIC_URL set: every push has its own tracked link")
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--spread-rate", type=float, default=0.0,
                        help="spread due times at this many per second instead of one burst (steady load)")
    parser.add_argument("--ceiling-seconds", type=float, default=10.0, help="bare push loop duration (0: skip)")
    parser.add_argument("--timeout", type=float, default=0.0, help="give up after this many seconds "
                        "(default: 120 + friends / 500)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="a dedicated db (flushed)")
    args = parser.parse_args()
    timeout = args.timeout or 120 + args.friends / 500

    workdir = Path(tempfile.mkdtemp(prefix="stepline-bench-delivery-"))
    rclient = redis.Redis.from_url(args.redis_url)
    rclient.flushdb()
    sim = start_subprocess(access_token=TOKEN, latency_ms=args.latency_ms)
    url: str | None = None
    stack: Stack | None = None
    met: list[bool] = []
    try:
        mode = "multicast (identical content)" if args.multicast else "push (personalised content)"
        mode += " + tracked links" if args.tracked_links else ""
        print(f"database={args.database} friends={args.friends:,} workers={args.workers} mode={mode} "
              f"latency={args.latency_ms:g} ms sender threads/job={sender.THREADS} app pool={APP_POOL_SIZE} "
              f"{'spread ' + format(args.spread_rate, 'g') + '/s' if args.spread_rate else 'burst'}", flush=True)
        ceiling = floor = None
        if args.multicast and args.ceiling_seconds > 0 and args.database == "postgres":
            floor = outbox_floor.floor_on_fresh_database(args.friends, args.workers)
            print(f"outbox database floor: {floor:,.0f} recipients/s (bare outbox SQL, {args.workers} procs, "
                  f"nothing else running: python -m bench.outbox_floor)", flush=True)
        if args.ceiling_seconds > 0 and not args.multicast:
            ceiling, ok, other = bare_ceiling(sim, args.ceiling_seconds, args.workers, APP_POOL_SIZE)
            print(f"bare SDK push ceiling: {ceiling:,.0f} pushes/s ({ok:,} accepted, {other:,} refused, "
                  f"{args.workers} procs x {APP_POOL_SIZE} threads, pool {APP_POOL_SIZE}, {args.ceiling_seconds:g} s)",
                  flush=True)
            sim.reset()
            time.sleep(1.1)  # let the simulator's token bucket refill

        url = fresh_postgres_database("stepline_bench_deliv") if args.database == "postgres" \
            else f"sqlite:///{workdir}/bench.db"
        stack = Stack.configure(workdir, database_url=url, redis_url=args.redis_url,
                                line_api_base_url=sim.base_url, channel_secret=SECRET, access_token=TOKEN,
                                extra=TRACKING_ENV if args.tracked_links else None)
        stack.release()
        engine = sa.create_engine(normalize_database_url(url))
        doc = seed.scenario_doc("bench", personalised=not args.multicast)
        if args.tracked_links:
            doc["steps"][0]["messages"][0]["text"] += " 詳しくは https://shop.example.com/campaign?utm_source=line"
        scn = seed.add_live_scenario(engine, doc)
        took = seed.seed_population(engine, scn.id, scn.steps[0].id, count=args.friends,
                                    due_at=utcnow() + timedelta(days=FAR_FUTURE_DAYS))
        seed.analyze(engine)
        print(f"seeded {args.friends:,} friends + enrollments in {took:.1f} s", flush=True)

        stack.start_scheduler()
        for _ in range(args.workers):
            stack.start_worker()
        _wait_ready(rclient, args.workers, stack)
        lead = 1.0 + args.friends / 100_000  # the UPDATE below must commit before the due time
        if args.spread_rate:
            rows, seconds = seed.spread_due(engine, utcnow() + timedelta(seconds=lead + args.friends / 50_000),
                                            args.spread_rate)
        else:
            rows, seconds = seed.make_due(engine, utcnow() + timedelta(seconds=lead))
        print(f"made {rows:,} enrollments due ({seconds:.1f} s to commit, lead {lead:.1f} s)", flush=True)

        counts, done = _wait_done(engine, args.friends, timeout, stack)
        print(f"delivery statuses: {counts}{'' if done else '  (TIMED OUT before all were sent)'}")
        sent, wall, lateness = _figures(engine)
        print(_phases(engine))
        engine.dispose()
        stats = sim.stats()
        endpoints = stats.get("endpoints", {})
        print(f"simulator endpoints: {endpoints}")
        if sent:
            rate = sent / wall
            print(f"sent {sent:,} in {wall:.1f} s (first claim → last sent)")
            if args.multicast:
                met.append(report("multicast recipients/s", rate, "recipients/s", MULTICAST_TARGET))
                if floor:
                    print(f"  vs the outbox database floor {floor:,.0f}/s: {rate / floor:.2f}")
            else:
                cap = float(limits.PUSH_RATE)
                target = min(cap, 0.8 * ceiling) if ceiling else cap
                met.append(report("distinct pushes/s", rate, "msg/s", target))
                if ceiling:
                    print(f"  vs bare ceiling {ceiling:,.0f}/s: {rate / ceiling:.2f}; vs LINE limit {cap:,.0f}/s: "
                          f"{rate / cap:.2f}")
            print(f"lateness p50: {percentile(lateness, 50):.2f} s, max {max(lateness):.2f} s")
            met.append(report("lateness p99", percentile(lateness, 99), "s", LATENESS_TARGET_S,
                              higher_is_better=False))
            if not args.spread_rate:
                floor = 0.99 * args.friends / (limits.MULTICAST_RATE * limits.MULTICAST_MAX if args.multicast
                                               else limits.PUSH_RATE)
                print(f"  (burst: all {args.friends:,} due at once; LINE's limit alone puts p99 ≥ {floor:.1f} s — "
                      f"use --spread-rate for the engine's own lateness)")
        if args.tracked_links:
            sample = sim.deliveries()[0]["messages"][0]["text"] if sim.deliveries() else ""
            tracked = TRACKING_ENV["PUBLIC_URL"] + "/l/" in sample
            print(f"tracked links in the pushes: {'yes' if tracked else 'NO'} (e.g. {sample[-60:]!r})")
            met.append(tracked)
        recipients = [user for d in sim.deliveries() for user in d["to"]]
        exact = len(recipients) == len(set(recipients)) == sent == args.friends
        print(f"exactly once: {'yes' if exact else 'NO'} (simulator: {len(recipients):,} recipients, "
              f"{len(set(recipients)):,} distinct, in {stats.get('deliveries'):,} requests; db sent {sent:,}; "
              f"friends {args.friends:,})")
        met.append(exact and done)
        if not done:
            print(stack.logs())
    finally:
        if stack is not None:
            stack.stop()
        sim.stop()
        rclient.flushdb()
        if url is not None and args.database == "postgres":
            drop_database(url)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if met and all(met) else 1


if __name__ == "__main__":
    raise SystemExit(main())
