"""Many workers reserving at once never push a month past its limit (threads and processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from datetime import datetime
from pathlib import Path

from app.extensions import db
from app.quota import tracker
from tests.factories import in_tx
from tests.integration.quota.quota_rows import MID_MARCH

ROOT = Path(__file__).resolve().parents[3]
WORKER = textwrap.dedent(
    """
    import sys
    import sqlalchemy.dialects.postgresql  # noqa: F401 - app/models/base.py uses it without importing it
    from datetime import datetime
    from app.extensions import bind_services, db
    from app.config import load_settings
    from app.quota import tracker

    def reserve(count):
        with db.transaction() as session:
            return tracker.reserve(session, "default", count, now)

    bind_services(load_settings())
    now = datetime.fromisoformat(sys.argv[1])
    sys.stdin.readline()  # start together
    print(sum(reserve(int(sys.argv[3])) for _ in range(int(sys.argv[2]))))
    """
)


def _reserved() -> int:
    with db.session() as session:
        return tracker.status(session, "default", MID_MARCH).reserved


def test_concurrent_threads_never_overshoot(quota_app: object, env: dict[str, str]) -> None:
    # plan limit is 5: 16 threads x 10 attempts, with a mix of single and double reservations
    wins: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def worker(size: int) -> None:
        barrier.wait()
        for _ in range(10):
            if in_tx(tracker.reserve, "default", size, MID_MARCH):
                with lock:
                    wins.append(size)

    threads = [threading.Thread(target=worker, args=(1 + i % 2,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(wins) == _reserved() <= 5
    assert sum(wins) >= 4  # it filled up (a 2 may not fit into the last slot)


def test_concurrent_processes_never_overshoot(quota_app: object, env: dict[str, str]) -> None:
    child_env = {**os.environ, **env, "LINE_QUOTA_PLAN": "40",
                 "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    processes = [
        subprocess.Popen([sys.executable, "-c", WORKER, MID_MARCH.isoformat(), "25", "1"], cwd=ROOT,
                         env=child_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for _ in range(3)
    ]
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    outputs = [process.communicate(timeout=120) for process in processes]
    assert all(process.returncode == 0 for process in processes), [err for _, err in outputs]
    granted = sum(int(out.strip()) for out, _ in outputs)
    # the first process to create the month row fixes the limit from its plan (40): 75 attempts, 40 granted
    assert granted == 40
    assert _reserved() == 40


def test_first_reservations_of_a_new_month_are_not_refused_while_the_row_is_created(quota_app: object) -> None:
    # five workers race to create the month's row; every one of the five messages fits the plan of 5
    for attempt in range(5):
        now = MID_MARCH.replace(year=2030 + attempt)
        barrier = threading.Barrier(5)
        results: list[bool] = []
        threads = [threading.Thread(target=_reserve_one, args=(barrier, results, now)) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert results == [True] * 5


def _reserve_one(barrier: threading.Barrier, results: list[bool], now: datetime) -> None:
    barrier.wait()
    results.append(in_tx(tracker.reserve, "default", 1, now))
