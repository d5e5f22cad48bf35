"""Calendar rules through the scheduler: ``end`` skips (and records) later steps, birthdays repeat yearly,
holidays move a step to the next open window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.delivery import progress
from app.delivery.claim import STOP_ENDED
from app.extensions import db
from app.models.delivery import Delivery, Enrollment
from app.services.delivery import schedule_due
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


class Jobs:
    """The enqueue port: records the delivery ids handed to send jobs."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def __call__(self, ids: list[int]) -> bool:
        self.ids.extend(ids)
        return True


def _settle_as_sent(delivery_id: int, at: datetime) -> None:
    with db.transaction() as session:
        session.execute(sa.update(Delivery).where(Delivery.id == delivery_id).values(status="sent", sent_at=at))
        progress.settle(session, [delivery_id], at)


def test_a_step_due_after_end_is_recorded_skipped_and_never_enqueued() -> None:
    [eid] = population(1, scenario=scenario_doc(end=(T0 + timedelta(hours=2)).isoformat()))
    jobs = Jobs()
    assert schedule_due(T0, jobs) == 1
    _settle_as_sent(jobs.ids[-1], T0)
    assert schedule_due(T0 + timedelta(hours=1), jobs) == 1  # "tips" is due before the end
    _settle_as_sent(jobs.ids[-1], T0 + timedelta(hours=1))
    sent_jobs = list(jobs.ids)
    assert schedule_due(T0 + timedelta(days=1), jobs) == 0  # "offer" falls after it
    assert jobs.ids == sent_jobs
    (offer,) = deliveries(step_id="offer")
    assert (offer.status, offer.error) == ("skipped", "after_end")
    row = enrollment(eid)
    assert (row.status, row.stop_reason) == ("stopped", STOP_ENDED)


def test_an_end_on_one_scenario_leaves_the_others_alone() -> None:
    population(1, scenario=scenario_doc("ending", end="2026-04-01"), prefix="A")
    population(1, scenario=scenario_doc("open"), prefix="B")
    jobs = Jobs()
    assert schedule_due(T0, jobs) == 1
    assert [d.scenario_id for d in deliveries(status="queued")] == ["open"]
    assert [d.scenario_id for d in deliveries(status="skipped")] == ["ending"]


BIRTHDAY = scenario_doc("birthday", timezone="Asia/Tokyo", start={"trigger": "manual", "from": "birthday"},
                        steps=[{"id": "wish", "at": {"day": 0, "time": "10:00"}, "messages": [{"text": "おめでとう"}]}])


def test_a_finished_birthday_cycle_is_followed_by_next_years() -> None:
    start = datetime(2026, 8, 14, 15, 0, tzinfo=UTC)  # 15 August 00:00 in Tokyo
    due = start + timedelta(hours=10)
    with db.transaction() as session:
        add_scenario(session, BIRTHDAY)
        friend = add_friend(session, "U1")
        friend.attributes = {"birthday": "1990-08-15"}
        eid = add_enrollment(session, friend, "birthday", step="wish", run_at=due, start_at=start).id
    jobs = Jobs()
    assert schedule_due(due, jobs) == 1
    assert enrollment(eid).status == "completed"
    with db.session() as session:
        (renewed,) = session.scalars(sa.select(Enrollment).where(Enrollment.status == "active")).all()
    assert renewed.cycle == 2 and renewed.next_step_id == "wish"
    assert renewed.start_at == datetime(2027, 8, 14, 15, 0, tzinfo=UTC)
    assert renewed.next_run_at == datetime(2027, 8, 15, 1, 0, tzinfo=UTC)


def test_a_friend_without_a_birthday_gets_no_next_cycle() -> None:
    start = datetime(2026, 8, 14, 15, 0, tzinfo=UTC)
    with db.transaction() as session:
        add_scenario(session, BIRTHDAY)
        friend = add_friend(session, "U1")
        add_enrollment(session, friend, "birthday", step="wish", run_at=start, start_at=start)
    schedule_due(start, Jobs())
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Enrollment)
                              .where(Enrollment.status == "active")) == 0


def test_a_step_timed_onto_a_holiday_waits_for_the_next_open_window() -> None:
    doc = scenario_doc("weekday", timezone="Asia/Tokyo", skip_holidays=True,
                       send_window={"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"},
                       steps=[{"id": "one", "at": {"after": "0s"}, "messages": [{"text": "1"}]},
                              {"id": "two", "at": {"wait": "1d"}, "messages": [{"text": "2"}]}])
    sent_at = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)  # Friday 1 May 10:00 in Tokyo
    with db.transaction() as session:
        add_scenario(session, doc)
        friend = add_friend(session, "U1")
        eid = add_enrollment(session, friend, "weekday", step="one", run_at=sent_at, start_at=sent_at).id
    jobs = Jobs()
    schedule_due(sent_at, jobs)
    _settle_as_sent(jobs.ids[-1], sent_at)
    # + 1 day = Saturday; the weekend and Golden Week (4-6 May) are closed: Thursday 7 May 09:00
    assert enrollment(eid).next_run_at == datetime(2026, 5, 7, 0, 0, tzinfo=UTC)
