"""The SQL helpers every batch statement goes through, on the database under test."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from app.dialect import among, plain_rows, still
from app.extensions import db
from app.models.delivery import Delivery
from app.models.friends import Friend
from tests.factories import add_friend


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


def test_still_checks_rows_found_by_key_on_both_databases(app: Flask) -> None:
    with db.transaction() as session:
        ids = [add_friend(session, f"Ustill{i}").id for i in range(3)]
        session.execute(sa.update(Friend).where(Friend.id == ids[1]).values(status="blocked"))
    with db.session() as session:
        found = session.scalars(sa.select(Friend.id)
                                .where(among(session, Friend.id, ids), still(Friend.status, "active")))
        assert sorted(found) == [ids[0], ids[2]]


def test_a_status_check_beside_a_burst_of_ids_stays_off_the_status_index(app: Flask) -> None:
    """Statistics taken before a burst make 'sending' look rare; the index on status then holds
    an entry for every row that ever passed through it. Rows named by id must come by key."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's planner has no statistics to go stale")
    with db.transaction() as session:
        session.execute(sa.text("""
            INSERT INTO deliveries (friend_id, scenario_id, scenario_version, step_id, cycle, visit, channel,
                                    priority, retry_key, status, due_at, created_at, attempts, quota_reserved, is_test)
            SELECT n, 's', 1, 'a', 1, 0, 'default', 0, md5(n::text), 'sent', now(), now(), 0, false, false
            FROM generate_series(1, 20000) AS n"""))
    with db.engine.connect() as connection:
        connection.execute(sa.text("ANALYZE deliveries"))
        connection.commit()
    with db.transaction() as session:  # the burst: none of it in the statistics
        session.execute(sa.text("UPDATE deliveries SET status = 'sending' WHERE id % 2 = 0"))
        ids = list(session.scalars(sa.select(Delivery.id).where(Delivery.id % 2 == 0).order_by(Delivery.id).limit(500)))
    with db.session() as session:
        statement = sa.select(sa.func.count()).select_from(Delivery).where(
            among(session, Delivery.id, ids), still(Delivery.status, "sending"))
        compiled = statement.compile(session.get_bind(), compile_kwargs={"render_postcompile": True})
        plan = "\n".join(row[0] for row in session.connection().exec_driver_sql(f"EXPLAIN {compiled}",
                                                                                   compiled.params))
        assert session.scalar(statement) == len(ids)
    assert "pk_deliveries" in plan and "status" not in plan.split("Filter")[0], plan
