"""Storing a webhook body: group commit for the ledger inserts, so concurrent requests of one
process share a transaction.

Under LINE's bursts every request used to take the database's write lock for its own one-row
transaction; on SQLite (one writer for all processes) the lock's hand-offs, not the work,
were the cost. A request queues its body; whichever request gets the process's turn inserts
every queued body in one statement and one commit, then wakes the others with their answers.
Each request still answers only after its own events are committed (the 200 promises that).

The hand-off of the batch's friends to the workers (a Redis round trip) runs after the turn is
released, so the next batch's insert never waits for it, and the other requests of the batch
answer without it. Hand-offs coalesce the same way: while one is in flight, the friends of later
batches queue and go in its next round trip. A request alone (nothing in flight) answers only
after its friends are handed off, so a sequential client sees them queued when it gets the 200.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from app.events.ledger import RecordedBatch, record_event_bodies
from app.extensions import WEBHOOK_DB_DEADLINE_MS, db

Body = tuple[str, Iterable[Mapping[str, Any]]]
log = logging.getLogger(__name__)


@dataclass
class _Pending:
    body: Body
    done: threading.Event = field(default_factory=threading.Event)
    answer: RecordedBatch | None = None
    error: BaseException | None = None


class GroupCommit:
    """One per process; ``transaction`` gives the connection for the batch's one INSERT (its
    deadline set; a transaction or autocommit, either way the statement is all or nothing)."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[sa.Connection]],
                 hand_off: Callable[[list[tuple[str, str]]], object]) -> None:
        self._transaction = transaction
        self._hand_off = hand_off  # friends with new events → the workers (one Redis round trip per batch)
        self._turn = threading.Lock()  # whoever holds it writes everything queued
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._signalling = threading.Lock()  # whoever holds it hands off everything queued
        self._to_signal: set[tuple[str, str]] = set()

    def record(self, channel: str, events: Iterable[Mapping[str, Any]], now: datetime,
               timeout_s: float) -> RecordedBatch:
        """Store one body's events (with any queued alongside); ``TimeoutError`` past ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        mine = _Pending((channel, events))
        with self._queue_lock:
            self._queue.append(mine)
        while not mine.done.is_set():
            if not self._turn.acquire(timeout=max(0.0, deadline - time.monotonic())):
                with self._queue_lock:
                    if mine in self._queue:  # nobody took it: give up in time
                        self._queue.remove(mine)
                        raise TimeoutError("webhook ledger insert: deadline passed")
                mine.done.wait(timeout_s)  # being written right now: its answer comes next
                break
            friends: list[tuple[str, str]] = []
            try:
                if not mine.done.is_set():
                    friends = self._write_queued(now)
            finally:
                self._turn.release()
            self._hand_off_queued(friends)
        if mine.error is not None:
            raise mine.error
        if mine.answer is None:
            raise TimeoutError("webhook ledger insert: no answer in time")
        return mine.answer

    def _write_queued(self, now: datetime) -> list[tuple[str, str]]:
        """Insert and commit every queued body, answer their requests; the friends to hand off."""
        with self._queue_lock:
            batch, self._queue = self._queue, []
        try:
            with self._transaction() as connection:
                answers = record_event_bodies(connection, [p.body for p in batch], now)
            for pending, answer in zip(batch, answers, strict=True):
                pending.answer = answer
            friends = [(p.body[0], user) for p, answer in zip(batch, answers, strict=True) for user in answer.friends]
        except BaseException as exc:  # noqa: BLE001 - every request of the batch answers 500
            for pending in batch:
                pending.error = exc
            return []
        finally:
            for pending in batch:
                pending.done.set()
        return friends

    def _hand_off_queued(self, friends: list[tuple[str, str]]) -> None:
        """Queue ``friends`` and, unless a hand-off is in flight (it takes them next), hand off
        everything queued until nothing is left."""
        with self._queue_lock:
            self._to_signal.update(friends)
        while self._to_signal and self._signalling.acquire(blocking=False):
            try:
                while True:
                    with self._queue_lock:
                        queued, self._to_signal = self._to_signal, set()
                    if not queued:
                        break
                    self._signal(sorted(queued))
            finally:
                self._signalling.release()  # then look again: friends queued just before the release

    def _signal(self, friends: list[tuple[str, str]]) -> None:
        """After the commit: a failed hand-off loses nothing (the sweep re-signals pending
        events), so it never turns stored events into a 500."""
        try:
            self._hand_off(friends)
        except Exception:  # noqa: BLE001
            log.exception("webhook: %d friends not handed to the workers; the sweep will", len(friends))


_writers: dict[int, GroupCommit] = {}


def _writer(hand_off: Callable[[list[tuple[str, str]]], object]) -> GroupCommit:
    """This process's group commit (a forked web worker gets its own)."""
    pid = os.getpid()
    writer = _writers.get(pid)
    if writer is None:
        writer = _writers.setdefault(pid, GroupCommit(db.webhook_write, hand_off))
    return writer


def record_body(channel: str, events: Iterable[Mapping[str, Any]], now: datetime,
                hand_off: Callable[[list[tuple[str, str]]], object]) -> RecordedBatch:
    """Store a signed webhook body's events, sharing a transaction with concurrent requests, under
    the webhook's database deadline (LINE waits 2 s); after the commit the batch's friends go to
    the process's hand-off (the one given first: one port per process). ``TimeoutError`` or
    ``SQLAlchemyError`` when the database is locked or down."""
    return _writer(hand_off).record(channel, events, now, WEBHOOK_DB_DEADLINE_MS / 1000)
