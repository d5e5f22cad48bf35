"""The worker process: preloads the app once, then runs RQ's SimpleWorker over every queue.

SimpleWorker runs jobs in this process (no fork per job): the heavy imports happen once, and a
killed worker loses only the job in hand, which the sweeps recover. When Redis goes away the
worker waits for it and starts again instead of exiting.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker

from app.extensions import redis_handle
from workers import (  # noqa: F401 - preload before the first job
    conversation_jobs,
    delivery_jobs,
    event_jobs,
    quota_jobs,
    scenario_jobs,
)
from workers.queues import ALL_QUEUES, get_queue
from workers.runtime import boot

log = logging.getLogger("stepline.worker")


def worker_name(attempt: int = 1) -> str:
    """``host:pid`` (what an operator can find with ``ps``); a restart after Redis came back adds
    ``.N`` because the earlier registration may still be in Redis."""
    base = f"{socket.gethostname()}:{os.getpid()}"
    return base if attempt == 1 else f"{base}.{attempt}"


def main(argv: list[str] | None = None) -> None:
    boot()
    names = (argv if argv is not None else sys.argv[1:]) or list(ALL_QUEUES)
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise SystemExit(0)

    attempt = 0
    while not stopping:
        connection = redis_handle.client
        attempt += 1
        try:
            worker = SimpleWorker([get_queue(name, connection) for name in names], connection=connection,
                                  name=worker_name(attempt))
            worker.work(with_scheduler=False, logging_level="WARNING")
            return
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            log.warning("Redis unavailable (%s); retrying in 1 s", type(exc).__name__)
            signal.signal(signal.SIGTERM, _stop)
            time.sleep(1)


if __name__ == "__main__":
    main()
