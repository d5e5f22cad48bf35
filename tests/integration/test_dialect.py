"""The SQL helpers every batch statement goes through, on the database under test."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from app.dialect import among, plain_rows
from app.extensions import db
from app.models.friends import Friend
from tests.integration.delivery.factories import add_friend


def test_among_finds_ints_and_strings_and_nothing_for_an_empty_list(app: Flask) -> None:
    with db.transaction() as session:
        ids = [add_friend(session, f"Udialect{i}").id for i in range(5)]
    with db.session() as session:
        assert sorted(session.scalars(sa.select(Friend.id).where(among(session, Friend.id, ids[1:4])))) == ids[1:4]
        assert set(session.scalars(sa.select(Friend.user_id).where(
            among(session, Friend.user_id, ["Udialect0", "Udialect4", "Unobody"])))) == {"Udialect0", "Udialect4"}
        assert list(session.scalars(sa.select(Friend.id).where(among(session, Friend.id, [])))) == []


def test_plain_rows_are_named_like_the_select(app: Flask) -> None:
    with db.transaction() as session:
        add_friend(session, "Uplain", display_name="Plain")
    with db.session() as session:
        rows = plain_rows(session.execute(sa.select(Friend.user_id, Friend.status.label("friend_status"),
                                                    Friend.display_name, Friend.attributes)))
    assert [(r.user_id, r.friend_status, r.display_name, r.attributes) for r in rows] == \
        [("Uplain", "active", "Plain", {})]


def test_postgres_connections_price_random_reads_for_cached_data(app: Flask) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no planner costs to set")
    with db.transaction() as session:  # still set after a transaction the pool rolls back or commits
        assert session.scalar(sa.text("SHOW random_page_cost")) == "1.1"
    with db.session() as session:
        assert session.scalar(sa.text("SHOW random_page_cost")) == "1.1"
