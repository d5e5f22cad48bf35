"""SPEC §2 upload: atomic sets, versions only on change, impact on friends in flight, status applied."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models.delivery import ENROLLMENT_ACTIVE, ENROLLMENT_COMPLETED
from app.models.scenarios import Scenario, ScenarioVersion
from app.scenarios.errors import ScenarioInvalid
from app.scenarios.store import definition_for
from app.services import scenarios as service

from .helpers import T0, doc, enrollments, load, scenario_row, store_friend, text_of


def _versions(scenario_id: str) -> list[int]:
    with db.session() as session:
        query = sa.select(ScenarioVersion.version).where(ScenarioVersion.scenario_id == scenario_id)
        return list(session.scalars(query.order_by(ScenarioVersion.version)))


def _enroll_followers(*user_ids: str, scenario_id: str = "welcome") -> None:
    for user_id in user_ids:
        store_friend(user_id)
    service.enroll_manual(scenario_id, list(user_ids), T0)


def test_upload_creates_scenario_with_columns_and_first_version(app: Flask) -> None:
    result = load(doc(priority=7, channel="shop", start={"trigger": "event:purchase"}))
    (item,) = result.scenarios
    assert (item.action, item.version, item.changed) == ("created", 1, True)
    row = scenario_row("welcome")
    assert (row.status, row.version, row.priority, row.trigger, row.channel) == ("live", 1, 7, "event:purchase", "shop")
    assert row.published_at == T0
    with db.session() as session:
        stored = session.scalars(sa.select(ScenarioVersion)).one()
        assert stored.definition["start"]["from"] == "followed_at"
        assert definition_for(session, "welcome", 1).start.trigger == "event:purchase"


def test_one_invalid_file_changes_nothing(app: Flask) -> None:
    load(doc("kept"))
    bad = doc("broken", steps=[{"id": "x", "at": {"after": "soon"}, "messages": [{"text": "hi"}]}])
    with pytest.raises(ScenarioInvalid) as caught:
        service.upload([("good.yaml", text_of(doc("fresh"))), ("kept.yaml", text_of(doc("kept", name="new"))),
                        ("broken.yaml", text_of(bad))], T0)
    (issue,) = caught.value.errors
    assert (issue.file, issue.path) == ("broken.yaml", "steps[0].at.after")
    assert issue.line is not None and issue.column is not None
    with db.session() as session:
        assert session.scalars(sa.select(Scenario.id)).all() == ["kept"]
    assert scenario_row("kept").name == "kept series" and _versions("kept") == [1]


def test_enroll_of_unknown_scenario_is_an_error_with_position(app: Flask) -> None:
    rules = [{"when": {"postback": "buy"}, "do": [{"enroll": "nowhere"}]}]
    with pytest.raises(ScenarioInvalid) as caught:
        service.upload([("a.yaml", text_of(doc("a", rules=rules)))], T0)
    (issue,) = caught.value.errors
    assert issue.path == "rules[0].do[0].enroll" and "nowhere" in issue.message and issue.line and issue.line > 1


def test_enroll_target_may_arrive_in_the_same_upload(app: Flask) -> None:
    rules = [{"when": {"postback": "buy"}, "do": [{"enroll": "vip"}]}]
    result = load(doc("a", rules=rules), doc("vip", start={"trigger": "manual"}))
    assert [item.action for item in result.scenarios] == ["created", "created"]


def test_identical_reupload_keeps_the_version(app: Flask) -> None:
    load(doc())
    (item,) = load(doc(), now=T0 + timedelta(hours=1)).scenarios
    assert (item.action, item.version, item.changed) == ("unchanged", 1, False)
    assert _versions("welcome") == [1]


def test_status_only_change_is_applied_without_a_new_version(app: Flask) -> None:
    load(doc())
    (item,) = load(doc(status="paused")).scenarios
    assert item.action == "unchanged" and item.previous_status == "live"
    assert scenario_row("welcome").status == "paused" and _versions("welcome") == [1]
    load(doc(status="live"))
    assert scenario_row("welcome").status == "live"


def test_document_status_is_applied_on_create(app: Flask) -> None:
    load(doc("d", status="draft"), doc("p", status="paused"), doc("l"))
    assert [scenario_row(i).status for i in ("d", "p", "l")] == ["draft", "paused", "live"]
    assert scenario_row("d").published_at is None and scenario_row("l").published_at == T0


def test_changed_definition_creates_a_version_and_reports_impact(app: Flask) -> None:
    load(doc())
    _enroll_followers("U1", "U2", "U3")
    with db.transaction() as session:  # U3 has moved on to "tips"
        session.execute(sa.text("UPDATE enrollments SET next_step_id = 'tips' WHERE friend_id = "
                                "(SELECT id FROM friends WHERE user_id = 'U3')"))
    new = doc(steps=[
        {"id": "hello", "at": {"after": "0s"}, "messages": [{"text": "hello again"}]},  # changed text
        {"id": "offer", "at": {"after": "1d"}, "messages": [{"text": "offer"}]},  # tips removed
    ])
    (item,) = load(new, now=T0 + timedelta(minutes=1)).scenarios
    assert (item.action, item.version) == ("updated", 2)
    assert [row.to_dict() for row in item.impact] == [
        {"step_id": "hello", "friends": 2, "change": "changed"},
        {"step_id": "tips", "friends": 1, "change": "removed"},
    ]
    assert _versions("welcome") == [1, 2] and scenario_row("welcome").version == 2
    by_step = {e.next_step_id: e for e in enrollments()}
    assert set(by_step) == {"hello", "offer"}  # the friend at removed "tips" moved on to "offer"
    assert by_step["offer"].next_run_at == T0 + timedelta(days=1)
    assert {e.scenario_version for e in enrollments()} == {2}


def test_removed_last_step_completes_the_cycle(app: Flask) -> None:
    load(doc())
    _enroll_followers("U1")
    with db.transaction() as session:
        session.execute(sa.text("UPDATE enrollments SET next_step_id = 'offer'"))
    load(doc(steps=doc()["steps"][:2]), now=T0 + timedelta(hours=2))
    (enrollment,) = enrollments()
    assert (enrollment.status, enrollment.next_step_id) == (ENROLLMENT_COMPLETED, None)
    assert enrollment.finished_at == T0 + timedelta(hours=2)


def test_changed_timing_reschedules_friends_waiting_for_that_step(app: Flask) -> None:
    load(doc())
    _enroll_followers("U1")
    with db.transaction() as session:
        session.execute(sa.text("UPDATE enrollments SET next_step_id = 'tips', next_run_at = :due"),
                        {"due": T0 + timedelta(hours=1)})
    steps = doc()["steps"]
    steps[1] = {**steps[1], "at": {"after": "3h"}}
    load(doc(steps=steps))
    (enrollment,) = enrollments()
    assert enrollment.status == ENROLLMENT_ACTIVE and enrollment.next_step_id == "tips"
    assert enrollment.next_run_at == T0 + timedelta(hours=3)


def test_validate_reports_every_file(app: Flask) -> None:
    bad = doc("b")
    bad["mystery"] = 1
    with pytest.raises(ScenarioInvalid) as caught:
        service.validate([("a.yaml", "id: [unclosed"), ("b.yaml", text_of(bad))])
    assert {issue.file for issue in caught.value.errors} == {"a.yaml", "b.yaml"}
