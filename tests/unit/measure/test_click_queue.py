"""The clicks' write-behind buffer (pure: the stores are injected)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from app.services import click_queue
from app.services.click_queue import ClickQueue, Entry


def _entry(i: int) -> Entry:
    return {"key": f"k{i}", "delivery_id": str(i)}


def _wait_for(condition: object, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.001)


def test_clicks_reach_redis_in_one_write_within_the_flush_interval() -> None:
    writes: list[list[Entry]] = []
    queue = ClickQueue(writes.append, lambda batch: pytest.fail("the database is for Redis outages"))
    started = time.monotonic()
    for i in range(50):
        queue.put(_entry(i))
    _wait_for(lambda: writes)
    assert time.monotonic() - started < 0.5
    assert writes == [[_entry(i) for i in range(50)]] and queue.pending() == 0


def test_with_redis_down_the_batch_is_stored_in_the_database() -> None:
    stored: list[Entry] = []

    def redis_down(batch: list[Entry]) -> None:
        raise RedisConnectionError("refused")

    queue = ClickQueue(redis_down, stored.extend)
    queue.put(_entry(1))
    queue.put(_entry(2))
    assert queue.flush() in (0, 2)  # the flusher thread may have been first
    _wait_for(lambda: len(stored) == 2)
    assert stored == [_entry(1), _entry(2)]


def test_with_both_stores_down_clicks_stay_buffered_in_order_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(click_queue, "MAX_HELD", 3)
    monkeypatch.setattr(click_queue, "FLUSH_INTERVAL_S", 60.0)  # the flusher thread stays out of the way
    down = True
    written: list[Entry] = []

    def redis(batch: list[Entry]) -> None:
        if down:
            raise RedisConnectionError("refused")
        written.extend(batch)

    def database(batch: list[Entry]) -> None:
        raise OSError("database unavailable")

    queue = ClickQueue(redis, database)
    for i in range(2):
        queue.put(_entry(i))
    with pytest.raises(OSError):
        queue.flush()
    for i in range(2, 4):
        queue.put(_entry(i))
    with pytest.raises(OSError):
        queue.flush()
    assert queue.pending() == 3  # the oldest click dropped (logged), never more than MAX_HELD held
    down = False
    assert queue.flush() == 3
    assert written == [_entry(1), _entry(2), _entry(3)]


def test_a_graceful_exit_writes_what_is_buffered() -> None:
    script = textwrap.dedent("""
        import sys, time
        from app.services import click_queue
        click_queue.FLUSH_INTERVAL_S = 60.0  # only the exit can write it
        queue = click_queue.ClickQueue(lambda batch: print("written", len(batch), flush=True), print)
        queue.put({"key": "k"})
        sys.exit(0)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout.strip() == "written 1"
