"""SPEC §8 on the dashboard: the AND/OR filter builder, bulk search by pasted ids, the match count,
"select all N matching" with the impact first, inline edit, fields, segments and CSV upload.

Writes go with the bearer token: today's ``requires`` stub admits only it for POSTs (the staff
helper's version guards dashboard sessions by the same roles)."""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db
from app.models.friends import Friend, FriendTag
from tests.integration.friends.helpers import AUTH, bulk_friends, put_field, put_segment, store_friend


def _names(body: str, *names: str) -> set[str]:
    return {name for name in names if f">{name}</a>" in body}


def test_builder_or_of_two_conditions_and_the_match_count(client: FlaskClient) -> None:
    store_friend("U1", display_name="Aki", tags=("vip",))
    store_friend("U2", display_name="Ben", attributes={"age": 40})
    store_friend("U3", display_name="Chie", attributes={"age": 20})
    query = {"match": "any", "rows": "2", "k0": "tag", "n0": "vip", "o0": "is",
             "k1": "attribute", "n1": "age", "o1": "gte", "v1": "30"}
    body = client.get("/admin/friends", query_string=query, headers=AUTH).get_data(as_text=True)
    assert _names(body, "Aki", "Ben", "Chie") == {"Aki", "Ben"}
    assert "2 matching of 3 friends" in body


def test_bulk_search_by_pasting_ids_on_lines(client: FlaskClient) -> None:
    bulk_friends(300)
    pasted = "\n".join(f"U{i:06d}" for i in range(0, 300, 2))
    body = client.post("/admin/friends", data={"q": pasted}, headers=AUTH).get_data(as_text=True)
    assert "150 matching of 300 friends" in body


def test_select_all_matching_shows_the_impact_then_applies(client: FlaskClient) -> None:
    bulk_friends(150, attributes=lambda i: {"n": i})
    form = {"rows": "1", "k0": "attribute", "n0": "n", "o0": "lt", "v0": "120", "all_matching": "1",
            "action": "add_tag", "value": "promo"}
    preview = client.post("/admin/friends/bulk", data=form, headers=AUTH).get_data(as_text=True)
    assert 'id="impact-matched">120<' in preview
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(FriendTag)) == 0
    done = client.post("/admin/friends/bulk", data={**form, "confirm": "1"}, headers=AUTH)
    assert done.status_code == 302
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(FriendTag)) == 120


def test_inline_edit_of_fields_and_tags(client: FlaskClient) -> None:
    put_field(client, "age", type="number", label="Age")
    friend_id = store_friend("U1", tags=("old",))
    page = client.get(f"/admin/friends/{friend_id}", headers=AUTH).get_data(as_text=True)
    assert 'name="attr:age"' in page
    client.post(f"/admin/friends/{friend_id}/edit", headers=AUTH,
                data={"attr:age": "33", "remove_tag": "old", "add_tags": "new, vip"})
    with db.session() as session:
        friend = session.get(Friend, friend_id)
        assert friend is not None and friend.attributes == {"age": 33}
        assert set(session.scalars(sa.select(FriendTag.tag))) == {"new", "vip"}


def test_inline_edit_with_a_wrong_value_changes_nothing(client: FlaskClient) -> None:
    put_field(client, "age", type="number")
    friend_id = store_friend("U1", attributes={"age": 3})
    client.post(f"/admin/friends/{friend_id}/edit", headers=AUTH, data={"attr:age": "old"})
    with db.session() as session:
        friend = session.get(Friend, friend_id)
        assert friend is not None and friend.attributes == {"age": 3}


def test_fields_and_segments_pages(client: FlaskClient) -> None:
    client.post("/admin/fields", headers=AUTH, data={"name": "plan", "type": "choice", "choices": "gold, free"})
    assert "gold, free" in client.get("/admin/fields", headers=AUTH).get_data(as_text=True)
    store_friend("U1", tags=("vip",))
    client.post("/admin/segments", headers=AUTH, data={"id": "vips", "name": "VIPs", "filter": "tag: vip"})
    page = client.get("/admin/segments", headers=AUTH).get_data(as_text=True)
    assert 'id="segment-vips"' in page and ">1</a>" in page


def test_csv_upload_reports_counts_and_bad_cells(client: FlaskClient) -> None:
    put_field(client, "age", type="number")
    good = client.post("/admin/friends/import", headers=AUTH, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(b"user_id,age\nU1,3\n"), "f.csv")})
    assert "Created 1, updated 0, unchanged 0." in good.get_data(as_text=True)
    bad = client.post("/admin/friends/import", headers=AUTH, content_type="multipart/form-data",
                      data={"file": (io.BytesIO(b"user_id,age\nU2,x\n"), "f.csv")})
    assert bad.status_code == 422 and "expected a number" in bad.get_data(as_text=True)


def test_segment_link_lists_its_friends(client: FlaskClient) -> None:
    put_segment(client, "vips", {"tag": "vip"})
    store_friend("U1", display_name="Aki", tags=("vip",))
    store_friend("U2", display_name="Ben")
    body = client.get("/admin/friends?segment=vips", headers=AUTH).get_data(as_text=True)
    assert _names(body, "Aki", "Ben") == {"Aki"}


def test_a_filter_naming_an_unknown_segment_is_400_and_the_page_still_offers_tags_and_segments(
        client: FlaskClient) -> None:
    put_segment(client, "vips", {"tag": "vip"})
    store_friend("U1", tags=("gold",))
    response = client.get("/admin/friends", query_string={"filter": "segment: nope"}, headers=AUTH)
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "filter names unknown segments" in body and "unknown segment &#39;nope&#39;" in body
    assert '<option value="gold">' in body and '<option value="vips">' in body


def test_inline_edit_of_a_missing_friend_is_404_and_changes_nothing(client: FlaskClient) -> None:
    friend_id = store_friend("U1")
    response = client.post(f"/admin/friends/{friend_id + 1}/edit", headers=AUTH, data={"add_tags": "vip"})
    assert response.status_code == 404
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(FriendTag)) == 0
