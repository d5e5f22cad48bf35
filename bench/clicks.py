"""Tracked-link redirects: a burst of clicks (as after a multicast) against gunicorn, recorded once.

    python -m bench.clicks [--clicks 20000] [--rate 2000] [--concurrency 64] [--database postgres|sqlite]
                           [--web-workers 2] [--web-threads 4]

1. A fresh database with one live scenario whose step carries a URL, ``--clicks`` friends and a
   sent delivery each (a token per delivery, signed with the stack's key, as the sender makes them).
2. The real web (gunicorn, the Procfile's command) and scheduler (it drains the click stream).
3. Open loop: click ``i`` is issued at ``t0 + i / rate`` (``--rate 0``: as fast as ``--concurrency``
   connections allow); latency counts from the planned start, so a server that falls behind
   shows it. Every answer must be a 302 to the original URL.
4. Waits until the scheduler has recorded every click, then checks each token's click is in
   ``link_clicks`` exactly once.

Targets: ≥ 2,000 clicks/s, p99 ≤ 20 ms, every click recorded exactly once. The load generator
runs on the same machine (it is part of the cost on a small box).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
import redis
import sqlalchemy as sa

from app.config import normalize_database_url
from app.measure.links import LinkRef, LinkSigner
from app.models.base import utcnow
from bench import seed
from bench.common import drop_database, fresh_postgres_database, percentile, report
from devstack.processes import Stack

KEY = "bench-clicks-signing-key"
PUBLIC_URL = "https://stepline.example"
TARGET_URL = "https://shop.example.com/campaign?utm_source=line"
RATE_TARGET, P99_TARGET_MS = 2000.0, 20.0


def _seed(engine: sa.Engine, count: int) -> tuple[list[int], int]:
    """Friends with a sent delivery each; (delivery ids, the scenario version's row id)."""
    doc = seed.scenario_doc("bench-clicks", personalised=False)
    doc["steps"][0]["messages"][0]["text"] = f"セール中です {TARGET_URL}"
    scn = seed.add_live_scenario(engine, doc)
    seed.seed_population(engine, scn.id, scn.steps[0].id, count=count, due_at=utcnow() + timedelta(days=3650))
    now = utcnow().replace(tzinfo=None).isoformat(sep=" ")
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO deliveries (enrollment_id, friend_id, scenario_id, scenario_version, step_id, cycle, visit, "
            "channel, priority, retry_key, request_key, quota_reserved, status, due_at, created_at, sent_at, "
            "attempts, is_test) SELECT id, friend_id, scenario_id, 1, next_step_id, 1, 0, 'default', 0, 'bench', "
            "'bench', :yes, 'sent', :now, :now, :now, 1, :no FROM enrollments ORDER BY id"),
            {"now": now, "yes": True, "no": False})
        ids = [int(i) for i in connection.execute(sa.text("SELECT id FROM deliveries ORDER BY id")).scalars()]
        row = connection.execute(sa.text("SELECT id FROM scenario_versions WHERE scenario_id = 'bench-clicks'"))
        return ids, int(row.scalar_one())


async def _load(base: str, paths: list[str], rate: float, concurrency: int) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    bad = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    semaphore = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2

        async def click(i: int, path: str) -> None:
            nonlocal bad
            planned = start + (i / rate if rate else 0.0)
            delay = planned - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            async with semaphore:
                begun = planned if rate else loop.time()
                async with session.get(base + path, allow_redirects=False) as response:
                    await response.read()
                    if response.status != 302 or response.headers.get("Location") != TARGET_URL:
                        bad += 1
                latencies.append(loop.time() - begun)

        await asyncio.gather(*(click(i, p) for i, p in enumerate(paths)))
        elapsed = loop.time() - start
    return latencies, bad, elapsed


def _cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds of a process and its children (the gunicorn workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root_pid or ppid == root_pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _wait_recorded(engine: sa.Engine, expected: int, timeout: float) -> tuple[int, int, float]:
    started = time.monotonic()
    rows = distinct = 0
    while time.monotonic() - started < timeout:
        with engine.connect() as connection:
            rows, distinct = connection.execute(
                sa.text("SELECT count(*), count(DISTINCT delivery_id) FROM link_clicks")).one()
        if rows >= expected:
            break
        time.sleep(0.5)
    return int(rows), int(distinct), time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clicks", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=RATE_TARGET, help="offered clicks/s (0: closed loop)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12", help="a dedicated db (flushed)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="stepline-bench-clicks-"))
    rclient = redis.Redis.from_url(args.redis_url)
    rclient.flushdb()
    url = fresh_postgres_database("stepline_bench_clicks") if args.database == "postgres" \
        else f"sqlite:///{workdir}/bench.db"
    stack = Stack.configure(workdir, database_url=url, redis_url=args.redis_url, line_api_base_url="http://127.0.0.1:9",
                            channel_secret="s", access_token="t",
                            extra={"PUBLIC_URL": PUBLIC_URL, "LINK_SIGNING_KEY": KEY})
    met: list[bool] = []
    try:
        stack.release()
        engine = sa.create_engine(normalize_database_url(url))
        ids, row = _seed(engine, args.clicks + 500)
        signer = LinkSigner(KEY)
        paths = [f"/l/{signer.token(LinkRef(i, row, 0, 0), 'bench-clicks:1')}" for i in ids]
        stack.start_web(workers=args.web_workers, threads=args.web_threads)
        stack.start_scheduler()
        print(f"database={args.database} clicks={args.clicks:,} offered rate={args.rate:g}/s "
              f"concurrency={args.concurrency} web={args.web_workers}x{args.web_threads}", flush=True)
        asyncio.run(_load(stack.base_url, paths[:500], 0, 16))  # warm-up: connections, caches
        web = stack.named("web")[0].popen
        assert web is not None
        web_pid = web.pid
        cpu_before = _cpu_seconds(web_pid)
        latencies, bad, elapsed = asyncio.run(_load(stack.base_url, paths[500:], args.rate, args.concurrency))
        cpu = _cpu_seconds(web_pid) - cpu_before
        achieved = args.clicks / elapsed
        per_click = cpu / args.clicks
        print(f"web CPU: {per_click * 1000:.2f} ms per click ({cpu:.1f} CPU-s for the burst) → about "
              f"{1 / per_click:,.0f} clicks/s per free core; load average during the run: "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        met.append(report("redirects/s", achieved, "clicks/s", RATE_TARGET))
        print(f"latency p50: {percentile(latencies, 50) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms "
              f"(from the planned start{'' if args.rate else ', closed loop'})")
        met.append(report("latency p99", percentile(latencies, 99) * 1000, "ms", P99_TARGET_MS,
                          higher_is_better=False))
        print(f"answers other than 302 to the original URL: {bad}")
        total = args.clicks + 500
        rows, distinct, waited = _wait_recorded(engine, total, 60 + total / 1000)
        exact = rows == distinct == total
        print(f"recorded exactly once: {'yes' if exact else 'NO'} ({rows:,} rows, {distinct:,} distinct deliveries, "
              f"{total:,} clicks incl. warm-up; all in the table {waited:.1f} s after the burst)")
        met += [exact, bad == 0]
        engine.dispose()
    finally:
        stack.stop()
        rclient.flushdb()
        if args.database == "postgres":
            drop_database(url)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(met) else 1


if __name__ == "__main__":
    raise SystemExit(main())
