"""SPEC §8: one filter language; the SQL compilation and the Python evaluation agree on random
friends and random trees (run on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from app.extensions import db
from app.friends.evaluate import FriendFacts, evaluate, segment_test
from app.friends.sql import Compiler, prepare_scan
from app.models.friends import Friend, FriendTag
from app.scenarios.filters import FilterNode

NODE: TypeAdapter[Any] = TypeAdapter(FilterNode)
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KEYS = ["plan", "age", "joined", "score", "tags_list"]
TAGS = ["vip", "buyer", "new"]

texts = st.sampled_from(["gold", "silver", "Gold", "", "a b", "ゴールド", "10", "9", "3.5", "-2", "abc10", "1e3"])
dates = st.sampled_from(["2026-05-30", "2026-05-25", "2026-01-01", "2026-05-31T12:00:00+00:00",
                         "2026-06-01T11:00:00+00:00", "2026-06-02"])
numbers = st.one_of(st.integers(-20, 20), st.sampled_from([0.5, 3.5, -2.0, 10.0]))
scalars = st.one_of(texts, dates, numbers, st.booleans())
stored = st.one_of(st.none(), scalars, st.lists(st.one_of(texts, numbers, st.booleans()), max_size=3))
moments = st.one_of(st.none(), st.sampled_from([NOW - timedelta(days=d, hours=h) for d in (0, 1, 3, 8, 40)
                                                for h in (0, 5)]))


@st.composite
def friends(draw: st.DrawFn) -> dict[str, Any]:
    attributes = {key: draw(stored) for key in draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=4))}
    return {"attributes": {k: v for k, v in attributes.items() if v is not None or draw(st.booleans())},
            "tags": draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=3)),
            "followed_at": draw(moments), "last_message_at": draw(moments),
            "status": draw(st.sampled_from(["active", "blocked"])), "opted_out": draw(st.booleans()),
            "display_name": draw(st.one_of(st.none(), st.sampled_from(["Aki", "aki", "Ben", "ベン", "Aki Sato"])))}


OPS = ["eq", "ne", "gt", "gte", "lt", "lte", "contains"]


def leaves(segments: bool) -> st.SearchStrategy[dict[str, Any]]:
    options = [
        st.builds(lambda k, op, v: {"attribute": k, op: v}, st.sampled_from(KEYS), st.sampled_from(OPS), scalars),
        st.builds(lambda k, v: {"attribute": k, "in": v}, st.sampled_from(KEYS), st.lists(scalars, max_size=3)),
        st.builds(lambda k, v: {"attribute": k, "exists": v}, st.sampled_from(KEYS), st.booleans()),
        st.builds(lambda k, op, d: {"attribute": k, op: d}, st.sampled_from(KEYS),
                  st.sampled_from(["within", "before"]), st.sampled_from(["2d", "7d", "1h"])),
        st.builds(lambda t: {"tag": t}, st.sampled_from(TAGS)),
        st.builds(lambda f, op, v: {"field": f, op: v}, st.sampled_from(["followed_at", "last_message_at"]),
                  st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
                  st.sampled_from(["2026-05-31", "2026-05-29T12:00:00+00:00", "2026-06-01T07:00:00Z"])),
        st.builds(lambda f, op, d: {"field": f, op: d}, st.sampled_from(["followed_at", "last_message_at"]),
                  st.sampled_from(["within", "before"]), st.sampled_from(["2d", "7d", "1h"])),
        st.builds(lambda f, v: {"field": f, "exists": v}, st.sampled_from(["followed_at", "display_name", "route"]),
                  st.booleans()),
        st.builds(lambda op, v: {"field": "status", op: v}, st.sampled_from(["eq", "ne"]),
                  st.sampled_from(["active", "blocked"])),
        st.builds(lambda op, v: {"field": "opted_out", op: v}, st.sampled_from(["eq", "ne"]), st.booleans()),
        st.builds(lambda op, v: {"field": "display_name", op: v}, st.sampled_from(["eq", "ne", "contains", "gt", "lt"]),
                  st.sampled_from(["Aki", "aki", "ki", "B", "ベ"])),
    ]
    if segments:
        options.append(st.builds(lambda s: {"segment": s}, st.sampled_from(["seg-a", "seg-b", "missing"])))
    return st.one_of(options)


def trees(segments: bool) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(leaves(segments), lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner)), max_leaves=6)


def _store(rows: list[dict[str, Any]]) -> list[int]:
    ids = []
    with db.transaction() as session:
        session.execute(sa.delete(Friend))
        for i, row in enumerate(rows):
            friend = Friend(channel="default", user_id=f"U{i}", **{k: v for k, v in row.items() if k != "tags"})
            session.add(friend)
            session.flush()
            session.add_all(FriendTag(friend_id=friend.id, tag=tag) for tag in row["tags"])
            ids.append(friend.id)
    return ids


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(rows=st.lists(friends(), min_size=1, max_size=6), filters=st.lists(trees(True), min_size=1, max_size=4),
       seg_a=trees(False), seg_b=trees(False))
def test_sql_and_python_agree_on_random_friends_and_trees(app: Flask, rows: list[dict[str, Any]],
                                                          filters: list[dict[str, Any]], seg_a: dict[str, Any],
                                                          seg_b: dict[str, Any]) -> None:
    ids = _store(rows)
    segments = {"seg-a": NODE.validate_python(seg_a), "seg-b": NODE.validate_python(seg_b)}
    # the form for a few friends and the form for a scan of all (PostgreSQL: tags as a hashed IN)
    compilers = [Compiler(db.engine.dialect.name, NOW, segments, scan=scan) for scan in (False, True)]
    member = segment_test(segments, NOW)
    for tree in filters:
        node = NODE.validate_python(tree)
        with db.session() as session:
            prepare_scan(session)
            found, found_by_scan = (set(session.scalars(sa.select(Friend.id).where(compiler.condition(node))))
                                    for compiler in compilers)
        expected = {friend_id for friend_id, row in zip(ids, rows, strict=True) if evaluate(
            node, FriendFacts(attributes=row["attributes"], tags=set(row["tags"]), followed_at=row["followed_at"],
                              last_message_at=row["last_message_at"], status=row["status"],
                              opted_out=row["opted_out"], display_name=row["display_name"]),
            now=NOW, segment=member)}
        assert found == expected, (tree, rows)
        assert found_by_scan == expected, (tree, rows)


def test_text_that_only_looks_numeric_is_not_a_number(app: Flask) -> None:
    """Found by the property test: ``"1e3"`` and ``"1x5"`` are texts, so ``gt: 0`` does not match them."""
    rows = [{"attributes": {"plan": text}, "tags": [], "followed_at": None, "last_message_at": None,
             "status": "active", "opted_out": False, "display_name": None} for text in ("1e3", "1x5", "2.5")]
    ids = _store(rows)
    with db.session() as session:
        found = set(session.scalars(sa.select(Friend.id).where(
            Compiler(db.engine.dialect.name, NOW).condition(NODE.validate_python({"attribute": "plan", "gt": 0})))))
    assert found == {ids[2]}
