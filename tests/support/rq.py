"""Run queued RQ jobs for real, in this process (RQ's SimpleWorker in burst mode)."""

from __future__ import annotations

from rq import SimpleWorker

from app.extensions import redis_handle
from workers.queues import ALL_QUEUES, get_queue


def drain_queues(*names: str) -> None:
    """Work every job currently queued (and those they enqueue) until the queues are empty."""
    connection = redis_handle.client
    queues = [get_queue(name, connection) for name in (names or ALL_QUEUES)]
    SimpleWorker(queues, connection=connection).work(burst=True, with_scheduler=False, logging_level="WARNING")
