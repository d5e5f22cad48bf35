"""The whole path through real RQ jobs, and concurrent senders racing for the same rows."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from app.services.delivery import schedule_due
from app.services.sending import send_batch
from linesim.testing import SimulatorHandle
from tests.factories import T0, deliveries, population, scenario_doc
from tests.support.rq import drain_queues
from workers import delivery_jobs
from workers.queues import DELIVERIES

pytestmark = pytest.mark.usefixtures("bound")


def test_scheduler_task_and_send_job_deliver_through_rq(sim: SimulatorHandle) -> None:
    population(5)
    assert delivery_jobs.schedule_due() == 5  # real clock: T0 is in the past, so everything is due
    drain_queues(DELIVERIES)
    assert {r.status for r in deliveries()} == {"sent"}
    assert len(sim.deliveries()) == 5
    assert delivery_jobs.sweep_deliveries() == 0


def test_two_senders_racing_on_the_same_ids_send_each_friend_once(sim: SimulatorHandle, clients: Any) -> None:
    population(600, names=False, scenario=scenario_doc(steps=[
        {"id": "news", "at": {"after": "0s"}, "messages": [{"text": "same for everyone"}]}]))
    jobs: list[list[int]] = []
    schedule_due(T0, lambda ids: jobs.append(ids) or True, job_size=1000)
    [ids] = jobs
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        send_batch(clients, ids, lambda: T0)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    received = Counter(user for d in sim.deliveries() for user in d["to"])
    assert len(received) == 600 and set(received.values()) == {1}
    assert {r.status for r in deliveries()} == {"sent"}
    # whichever sender locks a row first sends it (the other skips it): one sender may take all 600
    # (500 + 100) or both a share, each cut into multicasts of at most 500
    sizes = [len(d["to"]) for d in sim.deliveries()]
    assert sum(sizes) == 600 and max(sizes) <= 500 and len(sizes) <= 4
