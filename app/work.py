"""The port through which the web app and the CLI hand work to background workers.

Use cases receive plain functions (``enqueue=work.send_deliveries``); edges take the bound
:class:`Work` from the app with :func:`current_work`. Only ``workers/`` knows RQ: ``wsgi.py``
(gunicorn and ``flask --app wsgi``) builds the app with ``workers.port.RQWork``, and tests may
bind any object with these methods. Every hand-over answers False when the queue is down: the
work is in the database already, and a sweep picks it up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flask import Flask, current_app

EXTENSION = "stepline.work"


@dataclass(frozen=True)
class QueueState:
    name: str
    depth: int
    failed: int


@dataclass(frozen=True)
class WorkerState:
    name: str
    state: str
    queues: list[str]
    current_job: str | None
    last_heartbeat: datetime | None


class Work(Protocol):
    """What the web app and the CLI may hand to workers, and what they may read of the queues."""

    def send_deliveries(self, delivery_ids: list[int]) -> bool:
        """Send these outbox rows soon."""

    def signal_friends(self, friends: list[tuple[str, str]]) -> bool:
        """Process the pending ledger events of these (channel, user id) friends."""

    def enroll_audience(self, scenario_id: str) -> bool:
        """Enroll an ``audience: all`` scenario's existing friends."""

    def send_operator_message(self, message_id: int) -> bool:
        """Try an operator's message again."""

    def queues(self) -> list[QueueState]:
        """Depth and failed jobs of every queue (raises the queue's connection errors)."""

    def workers(self) -> list[WorkerState]:
        """The live workers (raises the queue's connection errors)."""


def bind_work(app: Flask, work: Work | None) -> None:
    app.extensions[EXTENSION] = work


def current_work() -> Work:
    """The running app's port; an app built without one cannot hand work over (a clear error, not a
    silent drop)."""
    work: Work | None = current_app.extensions.get(EXTENSION)
    if work is None:
        raise RuntimeError("this app hands no work to workers: build it with create_app(work=RQWork()) (wsgi.py)")
    return work


def enroll_audiences(scenario_ids: Iterable[str]) -> None:
    """After commit: one job per audience too big to enroll inline (idempotent: a retry is harmless)."""
    work = current_work()
    for scenario_id in scenario_ids:
        work.enroll_audience(scenario_id)
