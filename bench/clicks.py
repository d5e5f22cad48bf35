"""Tracked-link redirects: a burst of clicks (as after a multicast) against gunicorn, recorded once.

    python -m bench.clicks [--clicks 20000] [--rate 2000] [--concurrency 64] [--database postgres|sqlite]

1. A fresh database with one live scenario whose step carries a URL, ``--clicks`` friends and a
   sent delivery each (a token per delivery, signed with the stack's key, as the sender makes them).
2. The ceiling: the Procfile's ``web:`` command (its gunicorn flags, ``WEB_CONCURRENCY`` workers)
   serving ``bench.bare_app:ok`` (``200 OK``, nothing else), loaded as fast as ``--concurrency``
   connections allow: what gunicorn and the client alone reach on this machine, in this run.
3. The same command serving Stepline, and the scheduler (it drains the click stream), once the
   warm-up's clicks are recorded: first closed loop, the capacity (≥ 2,000 clicks/s); then, on
   the idle stack again, a burst of ``--clicks`` more in open loop: click ``i`` is due at ``t0 + i
   / rate``, and latency counts from the due time, so a server that falls behind shows it (p99 ≤
   20 ms). Every answer must be a 302 to the original URL.
4. Waits until the scheduler has recorded every click, then checks each token's click is in
   ``link_clicks`` exactly once.

The client (``bench/http_load.py``: one thread, keep-alive sockets, prebuilt requests) shares the
2 cores with the server; its own CPU per request is printed. Targets: ≥ 2,000 clicks/s, p99 ≤
20 ms, every click recorded exactly once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import redis
import sqlalchemy as sa

from app.config import normalize_database_url
from app.measure.links import LinkRef, LinkSigner
from app.models.base import utcnow
from bench import http_load, seed
from bench.common import drop_database, fresh_postgres_database, percentile, report
from bench.webhook import procfile_web_argv
from devstack.ports import free_port, wait_for_http
from devstack.processes import Stack

KEY = "bench-clicks-signing-key"
PUBLIC_URL = "https://stepline.example"
TARGET_URL = "https://shop.example.com/campaign?utm_source=line"
RATE_TARGET, P99_TARGET_MS = 2000.0, 20.0


def seed_sent_deliveries(engine: sa.Engine, count: int) -> tuple[list[int], int]:
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


def _start_web(stack: Stack, app: str, ready_path: str) -> int:
    """The Procfile's web command serving ``app``; the gunicorn master's pid."""
    stack.web_port = free_port()
    process = stack._spawn("web", procfile_web_argv(app, stack.web_port, stack.env))  # noqa: SLF001
    wait_for_http(stack.base_url + ready_path, timeout=120)  # 4 workers importing the app on a busy machine
    assert process.popen is not None
    return process.popen.pid


def _load(stack: Stack, paths: list[str], rate: float, concurrency: int, **expect: object) -> tuple[
        http_load.LoadResult, float]:
    """The load's result and the client's own CPU seconds per request."""
    cpu = time.process_time()
    result = http_load.run("127.0.0.1", stack.web_port, paths, rate=rate, concurrency=concurrency,
                           **expect)  # type: ignore[arg-type]
    return result, (time.process_time() - cpu) / max(1, len(paths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clicks", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=RATE_TARGET, help="offered clicks/s (0: closed loop)")
    parser.add_argument("--concurrency", type=int, default=64, help="client connections (keep-alive)")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
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
        ids, row = seed_sent_deliveries(engine, 2 * args.clicks + 500)
        signer = LinkSigner(KEY)
        paths = [f"/l/{signer.token(LinkRef(i, row, 0, 0), 'bench-clicks:1')}" for i in ids]
        web_argv = procfile_web_argv("wsgi:app", 0, stack.env)
        print(f"database={args.database} clicks={args.clicks:,} offered rate={args.rate:g}/s "
              f"connections={args.concurrency} web={' '.join(web_argv[3:])} cpus={os.cpu_count()}", flush=True)

        bare_pid = _start_web(stack, "bench.bare_app:ok", "/")
        _load(stack, paths[:500], 0, args.concurrency, status=200)  # warm-up
        cpu_before = _cpu_seconds(bare_pid)
        bare, bare_client = _load(stack, paths[500:], 0, args.concurrency, status=200)
        bare_cpu = (_cpu_seconds(bare_pid) - cpu_before) / args.clicks
        print(f"ceiling: the Procfile's gunicorn serving a bare WSGI 200 OK, closed loop: {bare.rate:,.0f} req/s, "
              f"p50 {percentile(bare.latencies, 50) * 1000:.1f} ms, p99 {percentile(bare.latencies, 99) * 1000:.1f} ms;"
              f" gunicorn CPU {bare_cpu * 1e6:.0f} µs, client CPU {bare_client * 1e6:.0f} µs per request", flush=True)
        stack.stop()
        stack.processes.clear()

        web_pid = _start_web(stack, "wsgi:app", "/healthz")
        stack.start_scheduler()
        _load(stack, paths[:500], 0, 16, location=TARGET_URL)  # warm-up: connections, caches
        _wait_recorded(engine, 500, 120)  # the scheduler is up and drains (a deployment's runs for months)
        capacity, _ = _load(stack, paths[500:500 + args.clicks], 0, args.concurrency, location=TARGET_URL)
        met.append(report("redirects/s, closed loop (capacity)", capacity.rate, "clicks/s", RATE_TARGET))
        print(f"   ratio to the bare gunicorn ceiling ({bare.rate:,.0f} req/s): {capacity.rate / bare.rate:.2f}")
        _wait_recorded(engine, 500 + args.clicks, 60 + args.clicks / 1000)  # the burst starts on an idle stack
        cpu_before = _cpu_seconds(web_pid)
        run, client = _load(stack, paths[500 + args.clicks:], args.rate, args.concurrency, location=TARGET_URL)
        cpu = _cpu_seconds(web_pid) - cpu_before
        per_click = cpu / args.clicks
        print(f"burst at {args.rate:g}/s offered: answered {run.rate:,.0f} clicks/s; web CPU {per_click * 1000:.2f} ms "
              f"per click ({cpu:.1f} CPU-s for the burst); client CPU {client * 1e6:.0f} µs per click; "
              f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"latency p50: {percentile(run.latencies, 50) * 1000:.1f} ms, max {max(run.latencies) * 1000:.1f} ms "
              f"(from the due time{'' if args.rate else ', closed loop'})")
        met.append(report("latency p99", percentile(run.latencies, 99) * 1000, "ms", P99_TARGET_MS,
                          higher_is_better=False))
        unexpected = capacity.unexpected + run.unexpected
        print(f"answers other than 302 to the original URL: {unexpected}; connections reopened: "
              f"{capacity.reconnects + run.reconnects}")
        total = 2 * args.clicks + 500
        rows, distinct, waited = _wait_recorded(engine, total, 60 + total / 1000)
        exact = rows == distinct == total
        print(f"recorded exactly once: {'yes' if exact else 'NO'} ({rows:,} rows, {distinct:,} distinct deliveries, "
              f"{total:,} clicks incl. warm-up; all in the table {waited:.1f} s after the burst)")
        met += [exact, unexpected == 0]
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
