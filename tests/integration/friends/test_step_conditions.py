"""SPEC §8 step conditions: ``steps[].if`` is checked when the step falls due; a friend who does
not match skips it (skipped, reason ``condition``) and goes on to the next step."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from app.delivery.claim import claim
from app.extensions import db
from app.models.contacts import Segment
from app.models.friends import FriendTag
from tests.factories import (
    T0,
    add_enrollment,
    add_friend,
    add_scenario,
    deliveries,
    enrollment,
    scenario_doc,
)


def _conditional_scenario(condition: dict[str, object]) -> dict[str, object]:
    doc = scenario_doc()
    doc["steps"][0] = {**doc["steps"][0], "if": condition}  # type: ignore[index]
    return doc


def _two_friends(condition: dict[str, object]) -> tuple[int, int]:
    with db.transaction() as session:
        session.add(Segment(id="vips", name="VIPs", filter={"tag": "vip"}))
        scn = add_scenario(session, _conditional_scenario(condition))
        vip = add_friend(session, "Uvip")
        session.add(FriendTag(friend_id=vip.id, tag="vip"))
        other = add_friend(session, "Uother")
        return (add_enrollment(session, vip, scn.id).id, add_enrollment(session, other, scn.id).id)


def test_friend_who_does_not_match_skips_the_step_with_reason_condition(app: Flask) -> None:
    vip, other = _two_friends({"tag": "vip"})
    with db.transaction() as session:
        ids = claim(session, T0).delivery_ids
    rows = {row.enrollment_id: row for row in deliveries()}
    assert (rows[vip].status, rows[other].status, rows[other].error) == ("queued", "skipped", "condition")
    assert ids == [rows[vip].id]  # the skipped one is never handed to a sender


def test_skipped_friend_goes_on_to_the_next_step(app: Flask) -> None:
    _, other = _two_friends({"tag": "vip"})
    with db.transaction() as session:
        claim(session, T0)
    walked = enrollment(other)
    assert (walked.status, walked.next_step_id, walked.next_run_at) == ("active", "tips", T0 + timedelta(hours=1))


def test_condition_naming_a_segment_uses_the_segment_filter(app: Flask) -> None:
    vip, other = _two_friends({"segment": "vips"})
    with db.transaction() as session:
        claim(session, T0)
    assert {row.enrollment_id: row.status for row in deliveries()} == {vip: "queued", other: "skipped"}
