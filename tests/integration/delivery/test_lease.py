"""The sending lease (SPEC §3): a living worker keeps its rows however long LINE takes; a dead
worker's rows come due again within the lease, and a Redis loss hands queued rows out at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.delivery.outbox import REENQUEUE_AFTER
from app.extensions import db
from app.line.client import LineClient
from app.models.delivery import Delivery
from app.services import sending as sender
from app.services.delivery import schedule_due, sweep
from app.services.sending import SENDING_LEASE, send_batch
from linesim.testing import SimulatorHandle
from tests.factories import T0, deliveries, population

Clients = Callable[[str], LineClient]


def _claim(now: datetime = T0) -> list[int]:
    jobs: list[list[int]] = []
    schedule_due(now, lambda ids: jobs.append(ids) or True)
    return [i for job in jobs for i in job]


def _handed(now: datetime, **options: Any) -> list[int]:
    handed: list[list[int]] = []
    sweep(now, lambda batch: handed.append(batch) or True, **options)
    return [i for batch in handed for i in batch]


class _Clock:
    """The injected clock, moved by the test while a batch is at LINE."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _stalling(clients: Clients, entered: threading.Event, release: threading.Event) -> Clients:
    """LINE takes the push, then answers only when the test says so (a slow or rate-limited LINE)."""

    def client_for(channel: str) -> Any:
        real = clients(channel)

        class Stalling:
            def push(self, *args: Any, **kwargs: Any) -> Any:
                result = real.push(*args, **kwargs)
                entered.set()
                release.wait(20)
                return result

        return Stalling()

    return client_for


def _lease_end(delivery_id: int) -> datetime:
    with db.session() as session:
        value = session.scalar(sa.select(Delivery.next_attempt_at).where(Delivery.id == delivery_id))
    assert value is not None
    return value


def test_a_batch_longer_than_the_lease_is_not_resent_while_its_worker_lives(
    sim: SimulatorHandle, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender, "RENEW_EVERY_SECONDS", 0.05)
    population(1)
    [delivery_id] = _claim()
    clock, entered, release = _Clock(T0), threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}
    batch = threading.Thread(target=lambda: outcome.update(
        summary=send_batch(_stalling(clients, entered, release), [delivery_id], clock, threads=4)))
    batch.start()
    try:
        assert entered.wait(10)
        clock.at = T0 + 3 * SENDING_LEASE  # the first lease has long run out
        deadline = time.monotonic() + 10
        while _lease_end(delivery_id) <= clock.at and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _lease_end(delivery_id) > clock.at  # renewed by the living worker
        assert _handed(clock.at) == []
    finally:
        release.set()
        batch.join(20)
    assert outcome["summary"].sent == 1
    assert [row.status for row in deliveries()] == ["sent"]
    assert len(sim.deliveries()) == 1 and sim.stats()["endpoints"]["push"].get("duplicate", 0) == 0


def test_a_batch_within_the_renewal_interval_writes_no_renewal(
    sim: SimulatorHandle, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    population(3)
    lease_renewals: list[int] = []
    real_call_line = sender._call_line

    def spying(*args: Any) -> Any:
        attempts = real_call_line(*args)
        lease_renewals.append(args[-1].renewals)
        return attempts

    monkeypatch.setattr(sender, "_call_line", spying)
    assert send_batch(clients, _claim(), lambda: T0).sent == 3
    assert lease_renewals == [0]


def test_rows_of_a_dead_worker_come_due_once_the_lease_lapses(sim: SimulatorHandle, clients: Clients) -> None:
    population(1)
    [delivery_id] = _claim()
    clock, entered, release = _Clock(T0), threading.Event(), threading.Event()
    batch = threading.Thread(target=lambda: send_batch(_stalling(clients, entered, release), [delivery_id], clock))
    batch.start()
    try:
        assert entered.wait(10)  # LINE took the push; from here on the worker "is dead": no renewal
        assert _handed(T0 + SENDING_LEASE - timedelta(seconds=1)) == []
        assert _handed(T0 + SENDING_LEASE) == [delivery_id]
    finally:
        release.set()
        batch.join(20)


def test_after_a_redis_loss_rows_just_enqueued_are_handed_out_at_once(bound: Any) -> None:
    population(2)
    ids = _claim()  # enqueued at T0; their jobs vanished with Redis
    soon = T0 + timedelta(seconds=1)
    assert _handed(soon) == []  # the regular sweep trusts a job enqueued this recently
    assert sorted(_handed(soon, lost_before=soon)) == sorted(ids)
    assert _handed(soon, lost_before=soon) == []  # handed out again once, not in every round
    assert sorted(_handed(T0 + REENQUEUE_AFTER + timedelta(seconds=2))) == sorted(ids)
