"""PostgreSQL fast path for imports: one statement per batch fed by arrays (``unnest``).

SQLAlchemy's insertmanyvalues renders a fresh multi-row statement per batch, which psycopg then
splits and converts (most of an import's time); arrays keep the statement text fixed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from app.models.base import UTCDateTime

_TEXTS = postgresql.ARRAY(sa.Text)

_INSERT = sa.text("""
INSERT INTO friends (channel, user_id, display_name, status, opted_out, attributes, followed_at, created_at,
                     updated_at)
SELECT u.channel, u.user_id, u.display_name, 'active', u.opted_out, u.attributes::jsonb, u.followed::timestamptz,
       :now, :now
FROM unnest(:channels, :user_ids, :names, CAST(:opted AS boolean[]), :attributes, :followed)
     AS u(channel, user_id, display_name, opted_out, attributes, followed)
RETURNING user_id, id""").bindparams(
    sa.bindparam("now", type_=UTCDateTime()), sa.bindparam("channels", type_=_TEXTS),
    sa.bindparam("user_ids", type_=_TEXTS), sa.bindparam("names", type_=_TEXTS),
    sa.bindparam("opted", type_=_TEXTS), sa.bindparam("attributes", type_=_TEXTS),
    sa.bindparam("followed", type_=_TEXTS))

_UPDATE = sa.text("""
UPDATE friends AS f SET attributes = u.attributes::jsonb, opted_out = u.opted_out,
       followed_at = u.followed::timestamptz, display_name = u.display_name, updated_at = :now
FROM unnest(CAST(:ids AS integer[]), :attributes, CAST(:opted AS boolean[]), :followed, :names)
     AS u(id, attributes, opted_out, followed, display_name)
WHERE f.id = u.id""").bindparams(
    sa.bindparam("now", type_=UTCDateTime()), sa.bindparam("ids", type_=_TEXTS),
    sa.bindparam("attributes", type_=_TEXTS), sa.bindparam("opted", type_=_TEXTS),
    sa.bindparam("followed", type_=_TEXTS), sa.bindparam("names", type_=_TEXTS))

_TAGS = sa.text("""
INSERT INTO friend_tags (friend_id, tag, created_at)
SELECT u.friend_id, u.tag, :now FROM unnest(CAST(:ids AS integer[]), :tags) AS u(friend_id, tag)
ON CONFLICT DO NOTHING""").bindparams(
    sa.bindparam("now", type_=UTCDateTime()), sa.bindparam("ids", type_=_TEXTS), sa.bindparam("tags", type_=_TEXTS))


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _flag(value: Any) -> str:
    return "true" if value else "false"


def insert_friends(session: Session, rows: list[dict[str, Any]], now: datetime) -> list[tuple[str, int]]:
    """Insert new friends; their (user id, id)."""
    result = session.execute(_INSERT, {
        "now": now, "channels": [r["channel"] for r in rows], "user_ids": [r["user_id"] for r in rows],
        "names": [r["display_name"] for r in rows], "opted": [_flag(r["opted_out"]) for r in rows],
        "attributes": [json.dumps(r["attributes"], ensure_ascii=False) for r in rows],
        "followed": [_when(r["followed_at"]) for r in rows]})
    return [(user_id, friend_id) for user_id, friend_id in result]


def update_friends(session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
    """Write the merged columns of existing friends (keyed by ``f_id``)."""
    session.execute(_UPDATE, {
        "now": now, "ids": [str(r["f_id"]) for r in rows],
        "attributes": [json.dumps(r["attributes"], ensure_ascii=False) for r in rows],
        "opted": [_flag(r["opted_out"]) for r in rows], "followed": [_when(r["followed_at"]) for r in rows],
        "names": [r["display_name"] for r in rows]})


def insert_tags(session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
    """Add tags, skipping those a friend already has."""
    session.execute(_TAGS, {"now": now, "ids": [str(r["friend_id"]) for r in rows], "tags": [r["tag"] for r in rows]})
