"""``audience: all``: publishing enrolls existing matching friends, in batches, once."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from app.delivery.audience import audience_size, enroll_audience
from app.extensions import db
from app.models.delivery import Enrollment
from app.models.friends import FRIEND_BLOCKED
from app.services import scenarios as service
from workers.scenario_jobs import enroll_audience_job

from .helpers import T0, bulk_friends, doc, enrollments, load, store_friend


def _count(scenario_id: str) -> int:
    with db.session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(Enrollment)
                                  .where(Enrollment.scenario_id == scenario_id)) or 0)


def test_small_audience_is_enrolled_when_the_upload_publishes(app: Flask) -> None:
    bulk_friends(30)
    store_friend("BLOCKED", status=FRIEND_BLOCKED)
    store_friend("OPTED-OUT", opted_out=True)
    (item,) = load(doc(start={"audience": "all"})).scenarios
    assert (item.needs_audience, item.audience_enrolled) == (False, 30)
    assert {e.next_step_id for e in enrollments()} == {"hello"}


def test_draft_audience_waits_for_publish(app: Flask) -> None:
    bulk_friends(5)
    load(doc(status="draft", start={"audience": "all"}))
    assert _count("welcome") == 0
    done = service.publish("welcome", T0)
    assert (done.needs_audience, done.audience_enrolled) == (False, 5)


def test_big_audience_is_left_to_the_job_which_enrolls_everyone_once(app: Flask) -> None:
    # the audience is counted after the filter (compiled to SQL): 2,500 gold friends exceed the inline limit
    bulk_friends(5000, attributes=lambda i: {"plan": "gold" if i % 2 else "free"})
    document = doc(start={"audience": "all"}, filter={"attribute": "plan", "eq": "gold"})
    (item,) = load(document).scenarios
    assert item.needs_audience and _count("welcome") == 0
    assert enroll_audience_job("welcome") == 2500
    assert enroll_audience_job("welcome") == 0  # a retried job adds nobody
    assert _count("welcome") == 2500


def test_enroll_audience_streams_batches_with_progress(app: Flask) -> None:
    bulk_friends(2600)
    load(doc(status="draft", start={"audience": "all", "from": "trigger_time"},
             steps=[{"id": "s", "at": {"after": "2h"}, "messages": [{"text": "x"}]}]))
    with db.transaction() as session:
        session.execute(sa.text("UPDATE scenarios SET status = 'live'"))
    seen: list[int] = []
    with db.transaction() as session:
        assert audience_size(session, "welcome") == 2600
        assert enroll_audience(session, "welcome", T0, batch_size=1000, progress=seen.append) == 2600
    assert seen == [1000, 1000, 600]
    with db.session() as session:
        dues = set(session.scalars(sa.select(Enrollment.next_run_at).distinct()))
    assert dues == {T0 + timedelta(hours=2)}


def test_audience_filter_by_tag_and_existing_enrollments_skipped(app: Flask) -> None:
    store_friend("VIP1", tags=("vip",))
    store_friend("VIP2", tags=("vip",))
    store_friend("PLAIN")
    load(doc(status="draft", start={"audience": "all", "trigger": "manual"}, filter={"tag": "vip"}))
    with db.transaction() as session:
        session.execute(sa.text("UPDATE scenarios SET status = 'live'"))
    assert service.enroll_manual("welcome", ["VIP1"], T0) == 1
    with db.transaction() as session:
        assert enroll_audience(session, "welcome", T0) == 1
    assert _count("welcome") == 2
