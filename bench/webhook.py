"""Webhook throughput: signed single-event follow webhooks against gunicorn with DB + Redis behind it.

    python -m bench.webhook [--requests 6000] [--concurrency 8,64,256] [--database sqlite|postgres]

Both servers run the Procfile's own ``web:`` command (its gunicorn flags, ``WEB_CONCURRENCY``
workers): first serving ``bench.bare_app`` (answers 200, nothing else) as the baseline, then
Stepline. For each concurrency it prints both figures, the target (≥ 0.5 × the bare server's
requests/s; p99 ≤ max(50 ms, 3 × the bare p99)) and the ratio, and checks that every event is
in the ledger afterwards. The machine's other load counts in both runs alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import sqlalchemy as sa

from app.line.signature import compute_signature
from bench.common import drop_database, fresh_postgres_database, percentile, report
from devstack.ports import free_port
from devstack.processes import ROOT, Stack

SECRET = "bench-secret"
BARE_APP = "bench.bare_app:app"


@dataclass
class Run:
    concurrency: int
    rate: float
    p50_ms: float
    p99_ms: float
    failures: int


def procfile_web_argv(app: str, port: int, env: dict[str, str]) -> list[str]:
    """The Procfile's ``web:`` command with its ``${VAR:-default}`` expanded, serving ``app``."""
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    env = {**env, "PORT": str(port)}
    expanded = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1)) or m.group(2), line[4:])
    argv = expanded.split()
    argv[argv.index("wsgi:app")] = app
    assert argv[0] == "gunicorn"
    return [sys.executable, "-m", "gunicorn", *argv[1:]]


def start_procfile_web(stack: Stack, app: str) -> None:
    """Run the Procfile's web command for ``app`` under the stack's environment and log files."""
    stack.web_port = free_port()
    stack._spawn("web", procfile_web_argv(app, stack.web_port, stack.env))  # noqa: SLF001 - the stack's plumbing
    _wait_for_post(stack.base_url + "/callback")


def _wait_for_post(url: str, timeout: float = 30.0) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=1)
            return
        except urllib.error.HTTPError:
            return  # the server answers (400 for an unsigned body)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def measure(url: str, bodies: list[bytes], concurrency: int) -> Run:
    asyncio.run(_load(url, bodies[:200], concurrency))  # warm-up: connections, imports, caches
    latencies, failures, elapsed = asyncio.run(_load(url, bodies[200:], concurrency))
    return Run(concurrency, (len(bodies) - 200) / elapsed, percentile(latencies, 50) * 1000,
               percentile(latencies, 99) * 1000, failures)


def _follow_body(index: int) -> bytes:
    event = {
        "type": "follow", "mode": "active", "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": f"Ubench{index:08d}"},
        "webhookEventId": f"01BENCH{uuid.uuid4().hex[:19].upper()}",
        "deliveryContext": {"isRedelivery": False}, "replyToken": uuid.uuid4().hex,
        "follow": {"isUnblocked": False},
    }
    return json.dumps({"destination": "Ubench", "events": [event]}).encode()


async def _load(url: str, bodies: list[bytes], concurrency: int) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
    for raw in bodies:  # signed up front: LINE's signing is not the bot's work
        queue.put_nowait((raw, {"Content-Type": "application/json",
                                "X-Line-Signature": compute_signature(raw, SECRET)}))
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while not queue.empty():
            raw, headers = queue.get_nowait()
            started = time.perf_counter()
            async with session.post(url, data=raw, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    failures += 1
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, failures, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=6000, help="per concurrency level")
    parser.add_argument("--concurrency", default="8,64,256")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="stepline-bench-webhook-"))
    url = fresh_postgres_database() if args.database == "postgres" else f"sqlite:///{workdir}/bench.db"
    stack = Stack.configure(workdir, database_url=url, redis_url=args.redis_url,
                            line_api_base_url="http://127.0.0.1:9", channel_secret=SECRET, access_token="t")
    sent = 0
    try:
        stack.release()
        bare: dict[int, Run] = {}
        start_procfile_web(stack, BARE_APP)
        for level in levels:
            bare[level] = measure(stack.base_url + "/callback", [_follow_body(i) for i in range(args.requests)],
                                  level)
        stack.stop()
        stack.processes.clear()
        start_procfile_web(stack, "wsgi:app")
        print(f"database={args.database} web={procfile_web_argv('wsgi:app', 0, stack.env)[3:]} "
              f"requests per level={args.requests - 200} cpus={os.cpu_count()}")
        for level in levels:
            bodies = [_follow_body(sent + i) for i in range(args.requests)]
            sent += len(bodies)
            run, base = measure(stack.base_url + "/callback", bodies, level), bare[level]
            print(f"-- concurrency {level}: bare {base.rate:,.0f} req/s p50 {base.p50_ms:.1f} ms "
                  f"p99 {base.p99_ms:.1f} ms; stepline p50 {run.p50_ms:.1f} ms failures={run.failures}")
            report(f"c={level} webhook requests/s", run.rate, "req/s", 0.5 * base.rate)
            report(f"c={level} latency p99", run.p99_ms, "ms", max(50.0, 3 * base.p99_ms), higher_is_better=False)
            print(f"   ratio to the bare server: {run.rate / base.rate:.2f}")
        engine = sa.create_engine(stack.env["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT count(*) FROM webhook_events")).scalar_one()
        engine.dispose()
        print(f"ledger rows: {stored} of {sent} events {'(all stored)' if stored == sent else '(MISSING EVENTS)'}")
    finally:
        stack.stop()
        if args.database == "postgres":
            drop_database(url)


if __name__ == "__main__":
    main()
