"""Where one tracked-link redirect spends its time, in one process (no gunicorn, no client).

    python -m bench.click_path [--clicks 20000] [--redis-url redis://127.0.0.1:6379/12]

A SQLite database with one scenario version, the app as gunicorn loads it (``wsgi:app``'s
``create_app``), then per click, in µs of one core: the token check (HMAC), resolving it from the
process caches, the Redis append (one round trip each, or pipelined as the write-behind buffer
does), the whole middleware call (``TrackedLinks`` with a do-nothing ``start_response``, the
buffered clicks written at the end) and a bare WSGI app answering 200, as wall time and as CPU of
this process, so what is left for gunicorn and the client in ``bench.clicks`` can be read off.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from app.measure.links import LinkRef, LinkSigner
from bench import seed

KEY = "bench-clicks-signing-key"
TARGET_URL = "https://shop.example.com/campaign?utm_source=line"


def _per_call_us(fn: Callable[[int], object], count: int, then: Callable[[], object] = lambda: None) -> tuple[
        float, float]:
    """(wall, CPU of this process's threads) µs per call; ``then`` (counted) finishes deferred work."""
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        fn(i)
    then()
    return (time.perf_counter() - started) / count * 1e6, (time.process_time() - cpu) / count * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clicks", type=int, default=20_000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12", help="a dedicated db (flushed)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stepline-bench-click-path-"))
    os.environ.update({"DATABASE_URL": f"sqlite:///{workdir}/bench.db", "REDIS_URL": args.redis_url,
                       "PUBLIC_URL": "https://stepline.example", "LINK_SIGNING_KEY": KEY,
                       "LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t"})
    rclient = redis.Redis.from_url(args.redis_url)
    rclient.flushdb()
    try:
        from app import create_app
        from app.config import load_settings
        from app.extensions import redis_handle
        from app.migrate import upgrade_to_head
        from app.services import clicks

        upgrade_to_head(load_settings().database_url)
        engine = sa.create_engine(os.environ["DATABASE_URL"])
        doc = seed.scenario_doc("bench-clicks", personalised=False)
        doc["steps"][0]["messages"][0]["text"] = f"セール中です {TARGET_URL}"
        seed.add_live_scenario(engine, doc)
        with engine.connect() as connection:
            row = int(connection.execute(sa.text("SELECT id FROM scenario_versions")).scalar_one())
        engine.dispose()
        app = create_app()
        signer = LinkSigner(KEY)
        tokens = [signer.token(LinkRef(i + 1, row, 0, 0), "bench-clicks:1") for i in range(args.clicks)]
        environs = [{"REQUEST_METHOD": "GET", "PATH_INFO": f"/l/{t}", "HTTP_USER_AGENT": "Mozilla/5.0 (iPhone)"}
                    for t in tokens]
        statuses: list[str] = []
        entries = [{"key": f"{i:032x}", "at": f"{time.time():.6f}", "url": TARGET_URL, "delivery_id": str(i + 1),
                    "link_index": "0", "scenario_id": "bench-clicks", "step_id": "s1"} for i in range(args.clicks)]
        pipe = redis_handle.client.pipeline(transaction=False)

        def pipelined(i: int) -> None:
            pipe.xadd("bench:path", entries[i])  # type: ignore[arg-type]
            if i % 50 == 49 or i == args.clicks - 1:
                pipe.execute()

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            statuses.append(status)

        def bare(environ: dict[str, Any], start: Any) -> list[bytes]:
            start("200 OK", [("Content-Length", "0")])
            return [b""]

        app.wsgi_app(environs[0], start_response)  # type: ignore[arg-type]  # warm: caches filled
        assert statuses == ["302 FOUND"], statuses
        n = args.clicks
        figures = {
            "token check (regex + HMAC-SHA256)": _per_call_us(
                lambda i: signer.parse(tokens[i], lambda ref: "bench-clicks:1"), n),
            "resolve (caches, token check included)": _per_call_us(
                lambda i: clicks.resolve(signer, tokens[i]), n),
            "Redis XADD of a click, one round trip each": _per_call_us(
                lambda i: redis_handle.client.xadd("bench:path", entries[i]), n),  # type: ignore[arg-type]
            "Redis XADD of a click, pipelined by 50": _per_call_us(
                lambda i: pipelined(i), n),
            "whole middleware call (302, click buffered and written)": _per_call_us(
                lambda i: app.wsgi_app(environs[i], start_response), n, clicks.flush_buffered),  # type: ignore[arg-type]
            "bare WSGI app (200 OK)": _per_call_us(lambda i: bare(environs[i], start_response), n),
        }
        print(f"per click, in-process, {n:,} clicks, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              f"(wall µs, CPU µs of this process; Redis' own CPU and waits are in the wall figure only):")
        for label, (wall, cpu) in figures.items():
            print(f"  {label:58s} {wall:8.1f} {cpu:8.1f}")
        print(f"  clicks queued: {rclient.xlen(clicks.STREAM):,}")
    finally:
        rclient.flushdb()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
