"""Write-behind for clicks: the redirect hands its click to a per-process buffer and answers at
once; a flusher thread appends what gathered to the Redis stream in one pipelined round trip.

A Redis round trip per click cost more than the rest of the redirect together (and made the
request wait for redis-server's turn on a busy CPU). The buffer is bounded in time: a click is
in Redis (or, with Redis down, in ``link_clicks``) within ``FLUSH_INTERVAL_S`` plus one write of
its answer. A graceful stop (SIGTERM, SIGINT, SIGQUIT, gunicorn's worker restarts and timeouts:
they all exit through ``sys.exit``) flushes what is buffered first. What a web process killed
outright (SIGKILL, out of memory, power) had buffered — at most the clicks of its last
``FLUSH_INTERVAL_S`` — is lost, never recorded twice: the guarantee is *at most once*
for that window and *exactly once* for every click that reached Redis or the database.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.005  # the longest a click waits in the buffer (and what a SIGKILL can lose)
RETRY_INTERVAL_S = 1.0  # with Redis and the database both failing, the batch is tried again after this
MAX_HELD = 100_000  # clicks held while neither store answers; past this the oldest are dropped (logged)

Entry = dict[str, str]


class ClickQueue:
    """One per process: ``put`` never blocks on I/O; ``flush`` writes everything buffered now."""

    def __init__(self, to_redis: Callable[[list[Entry]], None], to_database: Callable[[list[Entry]], None]) -> None:
        self._to_redis = to_redis
        self._to_database = to_database
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._pending: list[Entry] = []
        self._pid = 0  # the process whose flusher runs: a fork (gunicorn --preload) starts its own
        self._flushing = threading.Lock()  # one write at a time, in order

    def put(self, entry: Entry) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._start()
            self._pending.append(entry)
            if len(self._pending) == 1:
                self._ready.notify()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write what is buffered (Redis, else the database); how many clicks were written."""
        with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                self._write(batch)
            except Exception:
                with self._lock:  # neither store answered: keep the clicks (bounded) for the next try
                    held = batch + self._pending
                    if len(held) > MAX_HELD:
                        log.error("click buffer full: %d clicks dropped (Redis and the database unavailable)",
                                  len(held) - MAX_HELD)
                        held = held[-MAX_HELD:]
                    self._pending = held
                raise
            return len(batch)

    def _write(self, batch: list[Entry]) -> None:
        try:
            self._to_redis(batch)
            return
        except (RedisError, OSError) as exc:
            log.warning("%d clicks recorded directly: Redis unavailable (%s)", len(batch), type(exc).__name__)
        # a pipeline that failed half-way left some entries in Redis too: their click keys make the
        # drain's second insert a no-op
        self._to_database(batch)

    def _start(self) -> None:
        self._pid = os.getpid()
        self._pending = []  # a forked child does not own its parent's clicks
        threading.Thread(target=self._run, name="click-flusher", daemon=True).start()
        atexit.register(self._flush_at_exit)

    def _run(self) -> None:
        pid = self._pid
        while pid == os.getpid():
            with self._lock:
                while not self._pending:
                    self._ready.wait()
            time.sleep(FLUSH_INTERVAL_S)  # gather the clicks of one interval into one round trip
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - logged; the clicks stay buffered for the next try
                log.exception("clicks not written; trying again in %.0f s", RETRY_INTERVAL_S)
                time.sleep(RETRY_INTERVAL_S)

    def _flush_at_exit(self) -> None:
        if self._pid != os.getpid():
            return
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - the process is going away; say what is lost
            log.exception("%d clicks lost at exit: Redis and the database unavailable", self.pending())
