"""SPEC §8 friends API: read, edit (typed fields), search with paging and bulk search."""

from __future__ import annotations

import json

from flask.testing import FlaskClient

from tests.integration.friends.helpers import AUTH, bulk_friends, put_field, store_friend

FRIEND_KEYS = {"user_id", "display_name", "status", "opted_out", "followed_at", "last_message_at", "tags",
               "attributes", "route", "handoff", "rich_menu"}


def test_friend_json_has_exactly_the_spec_keys(client: FlaskClient) -> None:
    store_friend("U1", display_name="Aki", tags=("vip",), attributes={"plan": "gold"})
    body = client.get("/admin/api/friends/U1", headers=AUTH).get_json()
    assert set(body) == FRIEND_KEYS
    assert (body["status"], body["tags"], body["attributes"], body["handoff"]) == ("active", ["vip"],
                                                                                    {"plan": "gold"}, False)


def test_unknown_friend_is_404(client: FlaskClient) -> None:
    assert client.get("/admin/api/friends/Unope", headers=AUTH).status_code == 404


def test_patch_sets_and_removes_attributes_and_tags(client: FlaskClient) -> None:
    store_friend("U1", tags=("old",), attributes={"plan": "gold", "note": "x"})
    response = client.patch("/admin/api/friends/U1", headers=AUTH, json={
        "attributes": {"plan": "silver", "note": None}, "add_tags": ["new"], "remove_tags": ["old"],
        "opted_out": True})
    body = response.get_json()
    assert response.status_code == 200
    assert (body["attributes"], body["tags"], body["opted_out"]) == ({"plan": "silver"}, ["new"], True)


def test_value_written_to_a_field_is_coerced_to_its_type(client: FlaskClient) -> None:
    put_field(client, "age", type="number")
    put_field(client, "birthday", type="date")
    store_friend("U1")
    body = client.patch("/admin/api/friends/U1", headers=AUTH,
                        json={"attributes": {"age": "42", "birthday": "2000/01/31"}}).get_json()
    assert body["attributes"] == {"age": 42, "birthday": "2000-01-31"}


def test_wrong_value_for_a_field_is_422_naming_the_field(client: FlaskClient) -> None:
    put_field(client, "age", type="number")
    store_friend("U1")
    response = client.patch("/admin/api/friends/U1", headers=AUTH, json={"attributes": {"age": "old"}})
    assert response.status_code == 422
    assert "age" in response.get_json()["error"] and response.get_json()["details"][0]["field"] == "age"


def test_archived_field_is_hidden_refuses_writes_and_returns_when_restored(client: FlaskClient) -> None:
    put_field(client, "plan", type="choice", choices=["gold", "silver"])
    store_friend("U1", attributes={"plan": "gold"})
    put_field(client, "plan", archived=True)
    assert "plan" not in client.get("/admin/api/friends/U1", headers=AUTH).get_json()["attributes"]
    assert [f["name"] for f in client.get("/admin/api/fields", headers=AUTH).get_json()] == []
    refused = client.patch("/admin/api/friends/U1", headers=AUTH, json={"attributes": {"plan": "silver"}})
    assert refused.status_code == 422
    put_field(client, "plan", archived=False)
    assert client.get("/admin/api/friends/U1", headers=AUTH).get_json()["attributes"] == {"plan": "gold"}


def test_field_definitions_list_in_position_order(client: FlaskClient) -> None:
    put_field(client, "b", type="text", position=2, label="B")
    put_field(client, "a", type="bool", position=5)
    listed = client.get("/admin/api/fields", headers=AUTH).get_json()
    assert [(f["name"], f["type"], f["position"]) for f in listed] == [("b", "text", 2), ("a", "bool", 5)]
    assert set(listed[0]) == {"name", "type", "label", "choices", "archived", "position"}


def test_bad_field_definition_is_422(client: FlaskClient) -> None:
    response = client.put("/admin/api/fields/x", json={"type": "colour"}, headers=AUTH)
    assert response.status_code == 422


def test_attribute_without_a_field_keeps_any_value(client: FlaskClient) -> None:
    store_friend("U1")
    body = client.patch("/admin/api/friends/U1", headers=AUTH, json={"attributes": {"free": [1, "a"]}}).get_json()
    assert body["attributes"] == {"free": [1, "a"]}


def test_search_pages_with_an_exact_total(client: FlaskClient) -> None:
    bulk_friends(250)
    body = client.get("/admin/api/friends?page=3&per_page=100", headers=AUTH).get_json()
    assert (body["total"], body["page"], len(body["friends"])) == (250, 3, 50)
    assert body["friends"][0]["user_id"] == "U000200"


def test_search_filter_and_q_combine_with_and(client: FlaskClient) -> None:
    bulk_friends(30, attributes=lambda i: {"score": i})
    tree = json.dumps({"attribute": "score", "gte": 10})
    body = client.get(f"/admin/api/friends?filter={tree}&q=U000005,U000015 U000025", headers=AUTH).get_json()
    assert body["total"] == 2 and [f["user_id"] for f in body["friends"]] == ["U000015", "U000025"]


def test_q_matches_a_display_name_substring(client: FlaskClient) -> None:
    store_friend("U1", display_name="Sato Aki")
    store_friend("U2", display_name="Ben")
    body = client.get("/admin/api/friends?q=aki", headers=AUTH).get_json()
    assert [f["user_id"] for f in body["friends"]] == ["U1"]


def test_bulk_search_takes_ten_thousand_values(client: FlaskClient) -> None:
    bulk_friends(20)
    ids = [f"U{i:06d}" for i in range(10_000)]
    response = client.get("/admin/api/friends", query_string={"q": ",".join(ids), "per_page": 5}, headers=AUTH)
    assert response.get_json()["total"] == 20
    too_many = client.get("/admin/api/friends", query_string={"q": ",".join(ids + ["x1"])}, headers=AUTH)
    assert too_many.status_code == 400


def test_page_numbers_out_of_range_are_400(client: FlaskClient) -> None:
    for query in ("page=0", "page=-1", "per_page=0", "per_page=100000", "page=abc", "page=99999999999999999999"):
        assert client.get(f"/admin/api/friends?{query}", headers=AUTH).status_code == 400, query


def test_bad_filter_parameter_is_a_4xx(client: FlaskClient) -> None:
    assert client.get("/admin/api/friends?filter={nope", headers=AUTH).status_code == 400
    tree = json.dumps({"attribute": "x", "between": 3})
    assert client.get(f"/admin/api/friends?filter={tree}", headers=AUTH).status_code == 422


def test_reads_need_authentication(client: FlaskClient) -> None:
    assert client.get("/admin/api/friends").status_code == 401
