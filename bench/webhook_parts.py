"""Where a webhook's CPU goes, in one process (no HTTP server, no client beside it):

    python -m bench.webhook_parts [--database sqlite|postgres] [--requests 2000]

Prints the web process's CPU per signed single-event follow: answered by the fast path
(``app/webhook/fast.py``), by the Flask view (the same body with a query string), and by a bare
Flask app that only answers 200; then the ledger insert alone (``app/events/ledger_insert.py``)
and the Redis hand-off alone. Four threads send at once, as one gunicorn worker's threads do. ``bench.webhook``
measures the whole stack; this says which part to cut.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

from app.line.signature import compute_signature
from bench.common import drop_database, fresh_postgres_database

SECRET = "bench-secret"
THREADS = 4


def _event(i: int) -> dict[str, Any]:
    return {"type": "follow", "mode": "active", "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": f"Uparts{i:08d}"},
            "webhookEventId": "01PARTS" + uuid.uuid4().hex[:19], "deliveryContext": {"isRedelivery": False},
            "replyToken": uuid.uuid4().hex, "follow": {"isUnblocked": False}}


def _environ(i: int, query: str = "") -> dict[str, Any]:
    raw = json.dumps({"destination": "Ubench", "events": [_event(i)]}).encode()
    headers: dict[str, str] = {"Content-Type": "application/json", "X-Line-Signature": compute_signature(raw, SECRET)}
    return EnvironBuilder(path="/callback", method="POST", data=raw, query_string=query,
                          headers=list(headers.items())).get_environ()


def cpu_per_call(work: Callable[[int], object], count: int, threads: int = THREADS) -> float:
    """The process's CPU per call, in µs, with ``threads`` threads calling at once."""
    started = time.process_time()
    workers = [threading.Thread(target=lambda k=k: [work(i) for i in range(k, count, threads)]) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.process_time() - started) / count * 1e6


def _requests(app: Any, environs: list[dict[str, Any]]) -> Callable[[int], object]:
    def one(i: int) -> object:
        statuses: list[str] = []
        body = b"".join(app(environs[i], lambda status, _headers: statuses.append(status)))
        assert statuses[0].startswith("200"), (statuses, body)
        return body
    return one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    n = args.requests
    workdir = Path(tempfile.mkdtemp(prefix="stepline-bench-parts-"))
    url = fresh_postgres_database() if args.database == "postgres" else f"sqlite:///{workdir}/bench.db"
    os.environ.update(DATABASE_URL=url, REDIS_URL=args.redis_url, LINE_CHANNEL_SECRET=SECRET,
                      LINE_CHANNEL_ACCESS_TOKEN="t", LINE_API_BASE_URL="http://127.0.0.1:9",
                      SECRET_KEY="bench-" * 8)
    try:
        subprocess.run([sys.executable, "-m", "app.release"], check=True, capture_output=True)
        _measure(n)
    finally:
        if args.database == "postgres":
            from app.extensions import db

            db.dispose()
            drop_database(url)


def _measure(n: int) -> None:
    from app import create_app
    from app.events import ledger
    from app.extensions import db
    from app.models.base import utcnow
    from bench.bare_app import app as bare
    from workers.port import RQWork

    work = RQWork()
    app = create_app(work=work)
    for label, target, query in (("fast path", app, ""), ("Flask view", app, "via=flask"), ("bare Flask", bare, "")):
        environs = [_environ(i, query) for i in range(n + 50)]
        _requests(target, environs[n:])  # warm-up
        for i in range(n, n + 50):
            _requests(target, environs)(i)
        print(f"request, {label}: {cpu_per_call(_requests(target, environs), n):,.0f} µs CPU")
    now = utcnow()

    def insert(statement: Callable[..., object]) -> Callable[[int], object]:
        def one(_i: int) -> object:
            with db.webhook_write() as connection:
                return statement(connection, [("default", [_event(_i)])], now)
        return one

    dialect = db.engine.dialect.name
    print(f"ledger insert ({dialect}): {cpu_per_call(insert(ledger.record_event_bodies), n, 1):,.0f} µs CPU")
    hand_off = cpu_per_call(lambda i: work.signal_friends([("default", f"Uparts{i}")]), n, 1)
    print(f"hand-off (Redis): {hand_off:,.0f} µs CPU")


if __name__ == "__main__":
    main()
