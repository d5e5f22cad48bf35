"""The sender against the LINE simulator over HTTP: every due step goes out exactly once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.delivery.blocking import stop_for_block
from app.extensions import db
from app.line.client import LineClient
from app.models.delivery import Delivery
from app.models.friends import Friend
from app.models.quota import QuotaMonth
from app.services import sending as sender
from app.services.delivery import schedule_due, sweep
from app.services.sending import SENDING_LEASE, send_batch
from linesim.testing import SimulatorHandle
from tests.factories import T0, deliveries, population, scenario_doc

Clients = Callable[[str], LineClient]


def _claim(now: Any = T0) -> list[int]:
    jobs: list[list[int]] = []
    schedule_due(now, lambda ids: jobs.append(ids) or True)
    return [i for job in jobs for i in job]


def _at(moment: Any) -> Callable[[], Any]:
    return lambda: moment


def test_due_steps_are_pushed_with_their_retry_keys(sim: SimulatorHandle, clients: Clients) -> None:
    population(3)
    summary = send_batch(clients, _claim(), _at(T0))
    assert (summary.sent, summary.requests) == (3, 3)
    rows = deliveries()
    assert {r.status for r in rows} == {"sent"}
    assert all(r.request_key == r.retry_key and r.line_request_id and r.sent_at == T0 for r in rows)
    recorded = sim.deliveries()
    assert sorted(d["retry_key"] for d in recorded) == sorted(r.retry_key for r in rows)
    [first] = sim.deliveries(to=f"U{0:032d}")
    assert first["messages"] == [{"type": "text", "text": "hello name0"}]


def test_running_the_same_job_twice_sends_once(sim: SimulatorHandle, clients: Clients) -> None:
    population(2)
    ids = _claim()
    send_batch(clients, ids, _at(T0))
    again = send_batch(clients, ids, _at(T0 + timedelta(minutes=5)))
    assert again.requests == 0
    assert len(sim.deliveries()) == 2


def test_lost_answer_is_resent_with_the_same_key_and_counted_once(sim: SimulatorHandle, clients: Clients) -> None:
    population(1)
    sim.config(faults={"lost_answer": {"next": 1}})
    ids = _claim()
    first = send_batch(clients, ids, _at(T0))
    assert first.retrying == 1
    [row] = deliveries()
    assert row.status == "sending" and row.next_attempt_at > T0
    second = send_batch(clients, ids, _at(row.next_attempt_at))
    assert second.sent == 1
    [row] = deliveries()
    recorded = sim.deliveries()
    assert len(recorded) == 1  # LINE took it the first time; the retry got 409
    assert (row.status, row.attempts, row.line_request_id) == ("sent", 2, recorded[0]["request_id"])
    assert sim.stats()["endpoints"]["push"]["duplicate"] == 1


def test_server_error_is_retried_with_the_same_key(sim: SimulatorHandle, clients: Clients) -> None:
    population(1)
    sim.config(faults={"error_500": {"next": 1}})
    ids = _claim()
    assert send_batch(clients, ids, _at(T0)).retrying == 1
    [row] = deliveries()
    assert row.error and "500" in row.error
    retry_at = row.next_attempt_at
    assert send_batch(clients, ids, _at(retry_at - timedelta(milliseconds=1))).requests == 0  # not yet
    assert send_batch(clients, ids, _at(retry_at)).sent == 1
    [recorded] = sim.deliveries()
    assert recorded["retry_key"] == row.retry_key


def test_rate_limit_backs_off(sim: SimulatorHandle, clients: Clients) -> None:
    population(1)
    sim.config(faults={"rate_429": {"next": 1}})
    send_batch(clients, _claim(), _at(T0))
    [row] = deliveries()
    assert row.status == "sending" and "rate limit" in (row.error or "")
    assert T0 + timedelta(seconds=0.5) <= row.next_attempt_at <= T0 + timedelta(seconds=1)
    assert sim.deliveries() == []


def test_rejected_request_fails_with_lines_message(sim: SimulatorHandle, clients: Clients) -> None:
    population(1, scenario=scenario_doc(channel="shop"))
    summary = send_batch(clients, _claim(), _at(T0))
    [row] = deliveries()
    assert summary.failed == 1 and row.status == "failed"
    assert "401" in (row.error or "") and "Authentication failed" in (row.error or "")


def test_monthly_limit_at_line_holds_the_rest(sim: SimulatorHandle, clients: Clients) -> None:
    population(3)
    sim.config(quota_limit=1)
    summary = send_batch(clients, _claim(), _at(T0), threads=1)
    assert (summary.sent, summary.held) == (1, 2)
    held = deliveries(status="held")
    assert len(held) == 2 and all("monthly limit" in (r.error or "") and not r.quota_reserved for r in held)
    with db.session() as session:
        assert session.scalar(sa.select(QuotaMonth.exhausted)) is True


def test_our_quota_goes_to_the_higher_priority_scenario(sim: SimulatorHandle, clients: Clients) -> None:
    population(1, scenario=scenario_doc("low", priority=1), prefix="L")
    population(1, scenario=scenario_doc("high", priority=9), prefix="H")
    with db.transaction() as session:
        session.add(QuotaMonth(channel="default", month="2026-05", limit=1, reserved=0, external=0))
    summary = send_batch(clients, _claim(), _at(T0))
    assert (summary.sent, summary.held) == (1, 1)
    assert [r.scenario_id for r in deliveries(status="sent")] == ["high"]
    assert [r.scenario_id for r in deliveries(status="held")] == ["low"]
    assert len(sim.deliveries()) == 1


def test_a_multicast_larger_than_the_quota_left_sends_what_fits_and_holds_the_rest(
    sim: SimulatorHandle, clients: Clients
) -> None:
    population(10, names=False, scenario=scenario_doc(steps=[
        {"id": "news", "at": {"after": "0s"}, "messages": [{"text": "same for everyone"}]}]))
    with db.transaction() as session:
        session.add(QuotaMonth(channel="default", month="2026-05", limit=5, reserved=0, external=0))
    summary = send_batch(clients, _claim(), _at(T0))
    assert (summary.sent, summary.held) == (5, 5)
    [recorded] = sim.deliveries()
    assert recorded["endpoint"] == "multicast" and len(recorded["to"]) == 5
    held = deliveries(status="held")
    assert all(r.request_key is None and not r.quota_reserved for r in held)  # free to regroup later
    with db.transaction() as session:
        session.execute(sa.update(QuotaMonth).values(limit=10))
        session.execute(sa.update(Delivery).where(Delivery.status == "held").values(status="queued"))
    assert send_batch(clients, [r.id for r in held], _at(T0)).sent == 5
    received = [user for d in sim.deliveries() for user in d["to"]]
    assert len(received) == 10 and len(set(received)) == 10


def test_identical_content_goes_as_one_multicast(sim: SimulatorHandle, clients: Clients) -> None:
    population(12, names=False, scenario=scenario_doc(steps=[
        {"id": "news", "at": {"after": "0s"}, "messages": [{"text": "same for everyone"}]}]))
    summary = send_batch(clients, _claim(), _at(T0))
    assert (summary.sent, summary.requests) == (12, 1)
    [recorded] = sim.deliveries()
    assert recorded["endpoint"] == "multicast" and len(recorded["to"]) == 12
    rows = deliveries()
    assert {r.request_key for r in rows} == {recorded["retry_key"]}
    assert all(r.request_key != r.retry_key for r in rows)


def test_multicast_with_a_lost_answer_is_resent_whole_with_its_key(sim: SimulatorHandle, clients: Clients) -> None:
    population(12, names=False, scenario=scenario_doc(steps=[
        {"id": "news", "at": {"after": "0s"}, "messages": [{"text": "same for everyone"}]}]))
    sim.config(faults={"lost_answer": {"next": 1}})
    ids = _claim()
    assert send_batch(clients, ids, _at(T0)).retrying == 12
    retry_at = max(r.next_attempt_at for r in deliveries())
    # a retry job naming only some members still resends the whole group under the same key
    assert send_batch(clients, ids[:3], _at(retry_at)).sent == 12
    [recorded] = sim.deliveries()
    assert len(recorded["to"]) == 12
    assert {r.status for r in deliveries()} == {"sent"}
    assert sim.stats()["endpoints"]["multicast"]["duplicate"] == 1


def test_a_multicast_group_waits_until_every_member_is_due_again(sim: SimulatorHandle, clients: Clients) -> None:
    population(12, names=False, scenario=scenario_doc(steps=[
        {"id": "news", "at": {"after": "0s"}, "messages": [{"text": "same for everyone"}]}]))
    sim.config(faults={"error_500": {"next": 1}})  # LINE took nothing: the key is still free
    ids = _claim()
    assert send_batch(clients, ids, _at(T0)).retrying == 12
    assert len({r.next_attempt_at for r in deliveries()}) == 1  # the group comes due as one
    retry_at = deliveries()[0].next_attempt_at
    with db.transaction() as session:  # one member must wait longer (e.g. its row was touched)
        session.execute(sa.update(Delivery).where(Delivery.id == ids[0])
                        .values(next_attempt_at=retry_at + timedelta(minutes=1)))
    assert send_batch(clients, ids, _at(retry_at)).requests == 0  # never 11 now and 1 later under one key
    assert send_batch(clients, ids, _at(retry_at + timedelta(minutes=1))).sent == 12
    [recorded] = sim.deliveries()
    assert len(recorded["to"]) == 12


def test_friend_blocked_after_claim_gets_nothing(sim: SimulatorHandle, clients: Clients) -> None:
    population(2)
    ids = _claim()
    with db.transaction() as session:
        first, second = session.scalars(sa.select(Friend).order_by(Friend.id)).all()
        first.status = "blocked"  # the sender re-checks the friend itself
        stop_for_block(session, second.id, T0)  # the unfollow path cancels the rows
    summary = send_batch(clients, ids, _at(T0))
    assert (summary.skipped, summary.requests) == (1, 0)
    assert sorted(r.status for r in deliveries()) == ["cancelled", "skipped"]
    assert sim.deliveries() == []


def test_block_committed_after_the_plan_leaves_the_multicast_before_it_goes(
        sim: SimulatorHandle, clients: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    population(12, names=False, scenario=scenario_doc(steps=[
        {"id": "news", "at": {"after": "0s"}, "messages": [{"text": "same for everyone"}]}]))
    re_read = sender._drop_cancelled

    def block_first_then_re_read(requests: Any, now: Any) -> Any:  # the unfollow lands mid-batch
        with db.transaction() as session:
            first = session.scalars(sa.select(Friend).order_by(Friend.id)).first()
            assert first is not None
            stop_for_block(session, first.id, T0)
        return re_read(requests, now)

    monkeypatch.setattr(sender, "_drop_cancelled", block_first_then_re_read)
    summary = send_batch(clients, _claim(), _at(T0))
    assert summary.sent == 11
    [recorded] = sim.deliveries()
    assert len(recorded["to"]) == 11 and f"U{0:032d}" not in recorded["to"]
    assert sorted(r.status for r in deliveries()) == ["cancelled"] + ["sent"] * 11
    with db.session() as session:  # the cancelled member's reservation was given back
        assert session.scalar(sa.select(QuotaMonth.reserved)) == 11


def test_opted_out_friend_is_skipped(sim: SimulatorHandle, clients: Clients) -> None:
    population(1)
    with db.transaction() as session:
        session.execute(sa.update(Friend).values(opted_out=True))
    assert send_batch(clients, _claim(), _at(T0)).skipped == 1
    assert sim.deliveries() == []


class WorkerKilled(BaseException):
    """Stands for SIGKILL between LINE's answer and our commit."""


def test_worker_killed_after_line_accepted_is_recovered_by_the_sweep(sim: SimulatorHandle, clients: Clients) -> None:
    population(1)
    ids = _claim()

    def dying(channel: str) -> Any:
        real = clients(channel)

        class Dying:
            def push(self, *args: Any, **kwargs: Any) -> Any:
                real.push(*args, **kwargs)
                raise WorkerKilled

        return Dying()

    with pytest.raises(WorkerKilled):
        send_batch(dying, ids, _at(T0), threads=1)
    [row] = deliveries()
    assert row.status == "sending" and len(sim.deliveries()) == 1
    later = T0 + SENDING_LEASE + timedelta(seconds=1)
    handed: list[list[int]] = []
    assert sweep(later, lambda batch: handed.append(batch) or True) == 1
    assert send_batch(clients, handed[0], _at(later)).sent == 1
    assert len(sim.deliveries()) == 1
    with db.session() as session:
        assert session.scalar(sa.select(Delivery.status)) == "sent"


def test_held_by_our_quota_does_not_use_up_attempts(sim: SimulatorHandle, clients: Clients) -> None:
    population(1)
    with db.transaction() as session:
        session.add(QuotaMonth(channel="default", month="2026-05", limit=0, reserved=0, external=0))
    ids = _claim()
    for _ in range(3):
        assert send_batch(clients, ids, _at(T0)).held == 1
        with db.transaction() as session:
            session.execute(sa.update(Delivery).values(status="queued"))
    [row] = deliveries()
    assert row.attempts == 0 and row.error == "monthly message quota exhausted"


def test_quota_back_resumes_held_rows_through_the_sweep(sim: SimulatorHandle, clients: Clients) -> None:
    population(2)
    with db.transaction() as session:
        session.add(QuotaMonth(channel="default", month="2026-05", limit=0, reserved=0, external=0))
    send_batch(clients, _claim(), _at(T0))
    assert len(deliveries(status="held")) == 2
    assert sweep(T0 + timedelta(minutes=1), lambda ids: True) == 0  # still no room
    with db.transaction() as session:
        session.execute(sa.update(QuotaMonth).values(limit=10))
    handed: list[list[int]] = []
    assert sweep(T0 + timedelta(minutes=2), lambda ids: handed.append(ids) or True) == 2
    assert send_batch(clients, handed[0], _at(T0 + timedelta(minutes=2))).sent == 2
    assert len(sim.deliveries()) == 2


def test_a_test_send_whose_friend_was_removed_is_skipped_not_left_open(
        sim: SimulatorHandle, clients: Clients) -> None:
    population(1)
    ids = _claim()
    with db.transaction() as session:  # a test send's row has no enrollment to cascade from
        session.execute(sa.update(Delivery).values(enrollment_id=None))
        session.execute(sa.delete(Friend))
    summary = send_batch(clients, ids, _at(T0))
    assert (summary.skipped, summary.requests) == (1, 0)
    [row] = deliveries()
    assert (row.status, row.error) == ("skipped", "friend no longer exists")
    assert sim.deliveries() == []
