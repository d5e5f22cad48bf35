"""SPEC §8 segments: saved filters evaluated afresh, counted, guarded while used, and wired into
enrollment, audience and preview (a ``segment:`` filter really selects friends)."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient

from tests.integration.friends.helpers import AUTH, put_segment, store_friend
from tests.integration.scenarios.helpers import T0, doc, enrollments, load, text_of


def test_segment_list_has_id_name_filter_and_a_fresh_count(client: FlaskClient) -> None:
    store_friend("U1", tags=("vip",))
    put_segment(client, "vips", {"tag": "vip"}, name="VIPs")
    store_friend("U2", tags=("vip",))
    assert client.get("/admin/api/segments", headers=AUTH).get_json() == [
        {"id": "vips", "name": "VIPs", "filter": {"tag": "vip"}, "count": 2}]


def test_segment_accepts_yaml(client: FlaskClient) -> None:
    body = "name: Gold\nfilter:\n  attribute: plan\n  eq: gold\n"
    response = client.put("/admin/api/segments/gold", data=body, headers={**AUTH, "Content-Type": "text/yaml"})
    assert response.status_code == 201 and response.get_json()["filter"] == {"attribute": "plan", "eq": "gold"}


def test_invalid_segment_filter_is_422(client: FlaskClient) -> None:
    response = client.put("/admin/api/segments/bad", json={"name": "x", "filter": {"attribute": "a", "near": 1}},
                          headers=AUTH)
    assert response.status_code == 422


def test_segment_naming_itself_is_422(client: FlaskClient) -> None:
    put_segment(client, "a", {"tag": "x"})
    put_segment(client, "b", {"segment": "a"})
    response = client.put("/admin/api/segments/a", json={"name": "a", "filter": {"segment": "b"}}, headers=AUTH)
    assert response.status_code == 422


def test_segment_document_over_256_kib_is_413(client: FlaskClient) -> None:
    body = "name: x\nfilter: {tag: " + "a" * (257 * 1024) + "}\n"
    assert client.put("/admin/api/segments/big", data=body, headers=AUTH).status_code == 413


def test_delete_answers_409_while_a_scenario_uses_the_segment(client: FlaskClient) -> None:
    put_segment(client, "vips", {"tag": "vip"})
    load(doc(filter={"segment": "vips"}))
    response = client.delete("/admin/api/segments/vips", headers=AUTH)
    assert response.status_code == 409 and response.get_json()["details"] == [{"used_by": "scenario welcome"}]


def test_delete_of_an_unused_segment_succeeds(client: FlaskClient) -> None:
    put_segment(client, "vips", {"tag": "vip"})
    assert client.delete("/admin/api/segments/vips", headers=AUTH).status_code == 200
    assert client.get("/admin/api/segments", headers=AUTH).get_json() == []


def test_scenario_naming_an_unknown_segment_is_refused_at_upload(client: FlaskClient) -> None:
    response = client.put("/admin/api/scenarios/welcome", data=text_of(doc(filter={"segment": "nope"})),
                          headers=AUTH)
    assert response.status_code == 422
    assert "unknown segment 'nope'" in response.get_json()["details"][0]["message"]


def test_follow_enrolls_a_friend_of_the_segment_only(client: FlaskClient) -> None:
    put_segment(client, "vips", {"tag": "vip"})
    store_friend("Uvip", tags=("vip",))
    store_friend("Uother")
    load(doc(filter={"segment": "vips"}, start={"audience": "all"}))
    assert len(enrollments("welcome")) == 1


def test_preview_evaluates_the_segment_filter(client: FlaskClient) -> None:
    put_segment(client, "gold", {"attribute": "plan", "eq": "gold"})
    load(doc(filter={"segment": "gold"}))
    start = T0.isoformat()
    gold = client.get("/admin/api/scenarios/welcome/preview", query_string={"start": start, "attributes":
                      '{"plan": "gold"}'}, headers=AUTH).get_json()
    assert gold["filter_matches"] is True


def test_search_by_segment(client: FlaskClient) -> None:
    put_segment(client, "recent", {"field": "followed_at", "gte": (T0 - timedelta(days=1)).isoformat()})
    store_friend("Unew")
    store_friend("Uold", followed_at=T0 - timedelta(days=30))
    body = client.get("/admin/api/friends?segment=recent", headers=AUTH).get_json()
    assert [f["user_id"] for f in body["friends"]] == ["Unew"]
    assert client.get("/admin/api/friends?segment=nope", headers=AUTH).status_code == 404


def test_follow_of_a_segment_member_enrolls_them_and_no_one_else(client: FlaskClient) -> None:
    """The bug this closes: a live ``filter: {segment: vip}`` scenario enrolled nobody on follow."""
    from app.delivery.enrollment import on_follow
    from app.extensions import db
    from tests.integration.scenarios.helpers import friend

    put_segment(client, "vip", {"tag": "vip"})
    load(doc(filter={"segment": "vip"}))
    store_friend("Uvip", tags=("vip",))
    store_friend("Uother")
    with db.transaction() as session:
        for user_id in ("Uvip", "Uother"):
            on_follow(session, friend(session, user_id), at=T0, is_new=True, is_refollow=False, now=T0)
    assert len(enrollments("welcome")) == 1


def test_billion_laughs_segment_is_422(client: FlaskClient) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    body = "\n".join(lines) + "\nname: boom\nfilter: {tag: x}\n"
    response = client.put("/admin/api/segments/boom", data=body, headers={**AUTH, "Content-Type": "text/yaml"})
    assert response.status_code == 422


def test_filter_nested_deeper_than_64_is_422(client: FlaskClient) -> None:
    tree: dict[str, object] = {"tag": "x"}
    for _ in range(70):
        tree = {"not": tree}
    response = client.put("/admin/api/segments/deep", json={"name": "deep", "filter": tree}, headers=AUTH)
    assert response.status_code == 422


def test_a_segment_with_a_lone_surrogate_is_refused_not_a_server_error(client: FlaskClient,
                                                                         admin_headers: dict[str, str]) -> None:
    body = '{"name": "x\\ud800", "filter": {"tag": "vip"}}'
    response = client.put("/admin/api/segments/odd", data=body, headers={**admin_headers,
                                                                       "Content-Type": "application/json"})
    assert response.status_code == 422 and response.get_json()["error"]
