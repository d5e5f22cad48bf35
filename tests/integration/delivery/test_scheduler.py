"""The scheduler writes each due step once into the outbox and advances the enrollment."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from app.delivery import progress
from app.delivery.claim import claim, next_due_after
from app.extensions import db
from app.models.delivery import Delivery, Enrollment
from app.models.scenarios import Scenario
from app.services.delivery import schedule_due, sweep
from tests.factories import (
    T0,
    add_enrollment,
    add_friend,
    add_scenario,
    deliveries,
    enrollment,
    population,
    scenario_doc,
)

pytestmark = pytest.mark.usefixtures("bound")


def test_due_enrollment_becomes_one_queued_delivery_and_advances() -> None:
    [eid] = population(1)
    with db.transaction() as session:
        ids = claim(session, T0).delivery_ids
    [row] = deliveries()
    assert ids == [row.id]
    assert (row.step_id, row.status, row.cycle, row.request_key, row.due_at) == ("hello", "queued", 1, None, T0)
    assert len(row.retry_key) == 36
    walked = enrollment(eid)
    assert (walked.last_step_id, walked.last_step_at) == ("hello", T0)
    assert (walked.next_step_id, walked.next_run_at) == ("tips", None)  # waits for "hello" to settle
    _settle_as_sent(row.id, T0 + timedelta(seconds=5))
    assert enrollment(eid).next_run_at == T0 + timedelta(hours=1)


def _settle_as_sent(delivery_id: int, at: datetime) -> None:
    """What the sender does once LINE accepted the step."""
    with db.transaction() as session:
        session.execute(sa.update(Delivery).where(Delivery.id == delivery_id).values(status="sent", sent_at=at))
        progress.settle(session, [delivery_id], at)


def test_next_step_is_not_claimed_while_the_previous_one_is_unsent() -> None:
    [eid] = population(1)
    with db.transaction() as session:
        [first] = claim(session, T0).delivery_ids
    with db.transaction() as session:
        assert claim(session, T0 + timedelta(days=2)).delivery_ids == []  # "hello" still queued: "tips" waits
    _settle_as_sent(first, T0 + timedelta(days=2))
    with db.transaction() as session:
        assert len(claim(session, T0 + timedelta(days=2)).delivery_ids) == 1
    assert [d.step_id for d in deliveries()] == ["hello", "tips"]


def test_wait_counts_from_the_previous_steps_actual_send_time() -> None:
    with db.transaction() as session:
        scn = add_scenario(session, scenario_doc(steps=[
            {"id": "one", "at": {"after": "0s"}, "messages": [{"text": "one"}]},
            {"id": "two", "at": {"wait": "10m"}, "messages": [{"text": "two"}]},
        ]))
        friend = add_friend(session, "Uwait")
        eid = add_enrollment(session, friend, scn.id, step="one").id
    with db.transaction() as session:
        [first] = claim(session, T0).delivery_ids
    _settle_as_sent(first, T0 + timedelta(minutes=3))  # e.g. retried after a LINE 500
    assert enrollment(eid).next_run_at == T0 + timedelta(minutes=13)


def test_nothing_is_claimed_before_it_is_due() -> None:
    population(3)
    with db.transaction() as session:
        assert claim(session, T0 - timedelta(seconds=1)).delivery_ids == []


def test_claiming_twice_writes_each_step_once() -> None:
    [eid] = population(1)
    with db.transaction() as session:
        first = claim(session, T0).delivery_ids
        # a re-run that finds the same step due again (e.g. an enrollment reset by hand) inserts nothing
        session.execute(sa.update(Enrollment).where(Enrollment.id == eid)
                        .values(next_step_id="hello", next_run_at=T0))
        again = claim(session, T0).delivery_ids
    assert len(first) == 1 and again == []
    assert [d.step_id for d in deliveries()] == ["hello"]


def test_last_step_completes_the_enrollment() -> None:
    [eid] = population(1)
    for at in (T0, T0 + timedelta(hours=1), T0 + timedelta(days=1)):
        with db.transaction() as session:
            [delivery_id] = claim(session, at).delivery_ids
        _settle_as_sent(delivery_id, at)
    done = enrollment(eid)
    assert (done.status, done.next_step_id, done.next_run_at, done.finished_at) == ("completed", None, None,
                                                                                   T0 + timedelta(days=1))
    assert [d.step_id for d in deliveries()] == ["hello", "tips", "offer"]


def test_paused_scenario_keeps_its_friends_waiting() -> None:
    [eid] = population(1)
    with db.transaction() as session:
        session.execute(sa.update(Scenario).values(status="paused"))
    with db.transaction() as session:
        assert claim(session, T0 + timedelta(days=3)).delivery_ids == []
    assert enrollment(eid).next_run_at == T0


def test_oldest_due_first_and_limit_respected() -> None:
    with db.transaction() as session:
        scn = add_scenario(session)
        for i, minutes in enumerate([30, 10, 20]):
            friend = add_friend(session, f"U{i}")
            add_enrollment(session, friend, scn.id, run_at=T0 + timedelta(minutes=minutes))
    with db.transaction() as session:
        claimed = claim(session, T0 + timedelta(hours=2), limit=2).delivery_ids
    rows = deliveries()
    assert [r.id for r in rows] == claimed
    assert sorted(r.due_at for r in rows) == [T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)]


def test_tick_claims_in_batches_and_enqueues_jobs() -> None:
    population(25)
    jobs: list[list[int]] = []
    written = schedule_due(T0, lambda ids: jobs.append(ids) or True, limit=10, job_size=4)
    assert written == 25
    assert sorted(i for job in jobs for i in job) == [d.id for d in deliveries()]
    assert max(len(job) for job in jobs) == 4


def test_sweep_re_enqueues_a_lost_job_once() -> None:
    population(2)
    schedule_due(T0, lambda ids: False)  # Redis down: the job is lost
    picked: list[list[int]] = []
    assert sweep(T0 + timedelta(seconds=5), lambda ids: picked.append(ids) or True) == 0  # too recent
    assert sweep(T0 + timedelta(seconds=31), lambda ids: picked.append(ids) or True) == 2
    assert sweep(T0 + timedelta(seconds=40), lambda ids: picked.append(ids) or True) == 0  # just handed over
    assert sorted(picked[0]) == [d.id for d in deliveries()]


def test_sweep_picks_up_a_sending_row_whose_retry_is_due() -> None:
    population(1)
    schedule_due(T0, lambda ids: True)
    with db.transaction() as session:
        session.execute(sa.update(Delivery).values(status="sending", request_key=Delivery.retry_key,
                                                   next_attempt_at=T0 + timedelta(seconds=8)))
    seen: list[list[int]] = []
    assert sweep(T0 + timedelta(seconds=5), lambda ids: seen.append(ids) or True) == 0
    assert sweep(T0 + timedelta(seconds=9), lambda ids: seen.append(ids) or True) == 1
    assert sweep(T0 + timedelta(seconds=14), lambda ids: seen.append(ids) or True) == 0


@pytest.mark.skipif(os.environ.get("STEPLINE_TEST_DB", "sqlite") != "postgres", reason="row locks: PostgreSQL")
def test_two_schedulers_at_once_write_each_step_once() -> None:
    population(400)
    barrier = threading.Barrier(2)
    results: list[list[int]] = [[], []]

    def run(slot: int) -> None:
        barrier.wait()
        while True:
            with db.transaction() as session:
                ids = claim(session, T0 + timedelta(days=2), limit=50).delivery_ids
            if not ids:
                return
            results[slot].extend(ids)
            with db.transaction() as session:  # the sender's part: settle them so the next steps come due
                session.execute(sa.update(Delivery).where(Delivery.id.in_(ids)).values(status="sent", sent_at=T0))
                progress.settle(session, ids, T0)

    threads = [threading.Thread(target=run, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = deliveries()
    assert len(rows) == 1200  # 400 friends × 3 steps, nothing twice
    assert len({(r.enrollment_id, r.step_id) for r in rows}) == 1200
    assert sorted(results[0] + results[1]) == [r.id for r in rows]
    assert results[0] and results[1]  # both really worked


def test_next_due_after_is_the_earliest_step_still_ahead() -> None:
    with db.transaction() as session:
        scn = add_scenario(session)
        times = [T0 - timedelta(seconds=5), T0 + timedelta(seconds=3), T0 + timedelta(seconds=1)]
        for i, run_at in enumerate(times):
            add_enrollment(session, add_friend(session, f"Unext{i}"), scn.id, run_at=run_at)
        stopped = add_enrollment(session, add_friend(session, "Unext-stopped"), scn.id,
                                 run_at=T0 + timedelta(milliseconds=200))
        stopped.status = "stopped"
    with db.session() as session:
        assert next_due_after(session, T0) == T0 + timedelta(seconds=1)  # past and stopped ones aside
        assert next_due_after(session, T0 + timedelta(seconds=3)) is None
