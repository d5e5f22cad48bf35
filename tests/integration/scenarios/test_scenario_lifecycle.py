"""SPEC §2 lifecycle: draft → live → paused → live, duplicate, error when an enroll target vanished."""

from __future__ import annotations

import pytest
from flask import Flask

from app.delivery.lifecycle import check_references
from app.errors import BadRequest, Conflict, NotFound
from app.extensions import db
from app.scenarios.store import definition_for
from app.services import scenarios as service

from .helpers import T0, doc, load, scenario_row


def _do(action: str, scenario_id: str = "welcome") -> service.Transition:
    result: service.Transition = getattr(service, action)(scenario_id, T0)
    return result


def test_draft_goes_live_then_paused_then_live(app: Flask) -> None:
    load(doc(status="draft"))
    assert _do("publish").scenario.status == "live"
    assert _do("pause").scenario.status == "paused"
    assert _do("resume").scenario.status == "live"


@pytest.mark.parametrize(("status", "action"), [("draft", "pause"), ("draft", "resume"), ("live", "publish"),
                                                ("live", "resume"), ("paused", "pause")])
def test_transitions_not_allowed_from_the_current_state_conflict(app: Flask, status: str, action: str) -> None:
    load(doc(status=status))
    with pytest.raises(Conflict):
        _do(action)
    assert scenario_row("welcome").status == status


def test_unknown_scenario_is_not_found(app: Flask) -> None:
    with pytest.raises(NotFound):
        _do("publish", "ghost")


def test_duplicate_makes_a_draft_copy(app: Flask) -> None:
    load(doc())
    copy = service.duplicate("welcome", "welcome-b", T0)
    assert (copy.status, copy.version, copy.name) == ("draft", 1, "welcome series (copy)")
    assert scenario_row("welcome-b").status == "draft"
    with db.read() as session:
        definition = definition_for(session, "welcome-b", 1)
    assert definition.id == "welcome-b" and [s.id for s in definition.steps] == ["hello", "tips", "offer"]
    assert scenario_row("welcome").status == "live"


def test_duplicate_onto_an_existing_or_invalid_id_is_refused(app: Flask) -> None:
    load(doc("a"), doc("b"))
    with pytest.raises(Conflict):
        service.duplicate("a", "b", T0)
    with pytest.raises(BadRequest):
        service.duplicate("a", "Not Valid", T0)


def _with_enroll_into(target: str) -> dict[str, object]:
    return doc("main", rules=[{"when": {"postback": "buy"}, "do": [{"enroll": target}]}])


def test_deleting_an_enroll_target_puts_live_referrers_in_error(app: Flask) -> None:
    load(doc("vip", status="paused", start={"trigger": "manual"}), _with_enroll_into("vip"))
    errored = service.delete("vip", T0)
    assert errored == ["main"]
    row = scenario_row("main")
    assert row.status == "error" and "vip" in (row.status_reason or "")


def test_error_goes_live_only_once_the_reference_is_valid_again(app: Flask) -> None:
    load(doc("vip", status="paused", start={"trigger": "manual"}), _with_enroll_into("vip"))
    service.delete("vip", T0)
    with pytest.raises(Conflict):
        _do("publish", "main")
    load(doc("vip", start={"trigger": "manual"}))
    assert _do("publish", "main").scenario.status == "live"
    assert scenario_row("main").status_reason is None


def test_live_scenario_cannot_be_deleted(app: Flask) -> None:
    load(doc())
    with pytest.raises(Conflict):
        service.delete("welcome", T0)
    assert scenario_row("welcome").status == "live"


def test_check_references_leaves_valid_scenarios_alone(app: Flask) -> None:
    load(doc("vip", start={"trigger": "manual"}), _with_enroll_into("vip"))
    with db.transaction() as session:
        assert check_references(session, T0) == []
    assert scenario_row("main").status == "live"
