"""Webhook throughput: signed single-event follow webhooks against gunicorn with DB + Redis behind it.

    python -m bench.webhook [--requests 20000] [--concurrency 32] [--database sqlite|postgres]

Prints requests/s and p50/p99 latency against the issue's target (≥ 1,000 req/s, p99 ≤ 50 ms)
and checks that every event is in the ledger afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import sqlalchemy as sa

from app.line.signature import compute_signature
from bench.common import drop_database, fresh_postgres_database, percentile, report
from devstack.processes import Stack

SECRET = "bench-secret"


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
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="stepline-bench-webhook-"))
    url = fresh_postgres_database() if args.database == "postgres" else f"sqlite:///{workdir}/bench.db"
    stack = Stack.configure(workdir, database_url=url, redis_url=args.redis_url,
                            line_api_base_url="http://127.0.0.1:9", channel_secret=SECRET, access_token="t")
    try:
        stack.release()
        stack.start_web(workers=args.web_workers, threads=args.web_threads)
        bodies = [_follow_body(i) for i in range(args.requests)]
        asyncio.run(_load(stack.base_url + "/callback", bodies[:200], args.concurrency))  # warm-up
        latencies, failures, elapsed = asyncio.run(_load(stack.base_url + "/callback", bodies[200:],
                                                         args.concurrency))
        engine = sa.create_engine(stack.env["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT count(*) FROM webhook_events")).scalar_one()
        engine.dispose()
        sent = len(bodies)
        print(f"database={args.database} requests={sent - 200} concurrency={args.concurrency} failures={failures}")
        report("webhook requests/s", (sent - 200) / elapsed, "req/s", 1000)
        print(f"latency p50: {percentile(latencies, 50) * 1000:.1f} ms")
        report("latency p99", percentile(latencies, 99) * 1000, "ms", 50, higher_is_better=False)
        print(f"ledger rows: {stored} of {sent} events {'(all stored)' if stored == sent else '(MISSING EVENTS)'}")
    finally:
        stack.stop()
        if args.database == "postgres":
            drop_database(url)


if __name__ == "__main__":
    main()
