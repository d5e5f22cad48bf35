"""SPEC §8 bulk actions and §11 their dry run: one transaction over a filter, segment or id list."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db
from app.models.delivery import Delivery
from app.models.friends import Friend, FriendTag
from tests.integration.friends.helpers import AUTH, bulk_friends, put_segment, store_friend
from tests.integration.scenarios.helpers import doc, enrollments, load


def _bulk(client: FlaskClient, body: dict[str, Any], query: str = "") -> Any:
    response = client.post(f"/admin/api/friends/bulk{query}", json=body, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _tagged(tag: str) -> int:
    with db.session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(FriendTag).where(FriendTag.tag == tag)) or 0)


def test_add_tag_to_a_filter_counts_matched_and_changed(client: FlaskClient) -> None:
    bulk_friends(10, attributes=lambda i: {"score": i})
    store_friend("Ualready", tags=("hot",), attributes={"score": 99})
    body = _bulk(client, {"select": {"filter": {"attribute": "score", "gte": 5}}, "action": "add_tag", "value": "hot"})
    assert body == {"matched": 6, "changed": 5}
    assert _tagged("hot") == 6


def test_remove_tag_from_listed_user_ids(client: FlaskClient) -> None:
    store_friend("U1", tags=("x",))
    store_friend("U2", tags=("x",))
    assert _bulk(client, {"select": {"user_ids": ["U1", "Unknown"]}, "action": "remove_tag", "value": "x"}) == \
        {"matched": 1, "changed": 1}
    assert _tagged("x") == 1


def test_opt_out_a_segment(client: FlaskClient) -> None:
    put_segment(client, "vips", {"tag": "vip"})
    store_friend("U1", tags=("vip",))
    store_friend("U2")
    assert _bulk(client, {"select": {"segment": "vips"}, "action": "opt_out"}) == {"matched": 1, "changed": 1}
    with db.session() as session:
        rows = session.execute(sa.select(Friend.user_id, Friend.opted_out))
        assert {user_id: flag for user_id, flag in rows} == {"U1": True, "U2": False}


def test_enroll_and_stop_a_selection(client: FlaskClient) -> None:
    load(doc(start={"trigger": "manual"}))
    bulk_friends(5)
    assert _bulk(client, {"select": {"user_ids": ["U000001", "U000002"]}, "action": "enroll", "value": "welcome"}) \
        == {"matched": 2, "changed": 2}
    assert _bulk(client, {"select": {"user_ids": ["U000001"]}, "action": "stop", "value": "welcome"}) == \
        {"matched": 1, "changed": 1}
    assert sorted(e.status for e in enrollments("welcome")) == ["active", "stopped"]


def test_dry_run_answers_the_impact_and_changes_nothing(client: FlaskClient) -> None:
    load(doc(start={"trigger": "manual"}))
    bulk_friends(4)
    body = _bulk(client, {"select": {"filter": {"field": "status", "eq": "active"}}, "action": "enroll",
                          "value": "welcome"}, "?dry_run=1")
    assert body["matched"] == 4 and body["would_enroll"] == 4 and body["messages_due_now"] == 4
    assert "quota_left" in body
    assert enrollments("welcome") == []
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0


def test_bad_bulk_requests_are_4xx(client: FlaskClient) -> None:
    for body, status in (({"select": {"user_ids": []}, "action": "explode"}, 400),
                         ({"select": {"nope": 1}, "action": "opt_in"}, 400),
                         ({"select": {"filter": {"tag": 3, "x": 1}}, "action": "opt_in"}, 422),
                         ({"select": {"segment": "nope"}, "action": "opt_in"}, 404),
                         ({"action": "add_tag"}, 400)):
        assert client.post("/admin/api/friends/bulk", json=body, headers=AUTH).status_code == status, body
