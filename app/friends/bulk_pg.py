"""PostgreSQL fast path for imports: one statement per batch fed by arrays (``unnest``).

SQLAlchemy's insertmanyvalues renders a fresh multi-row statement per batch, which psycopg then
splits and converts (most of an import's time); arrays keep the statement text fixed.
:func:`merge_batch` does a whole batch in one statement: the merge with the stored friends
happens in the database, so no stored attributes or tags travel to Python (SQLite: the same
rules in Python, ``friend_import._Importer.write``).
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

def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _flag(value: Any) -> str:
    return "true" if value else "false"


# the rules of ``friend_import._Importer.write`` in SQL: attributes merged (the file's win), other
# columns kept when the file leaves them empty, tags added; a friend counts as updated when a
# column changed or a tag was added
_MERGE = sa.text("""
WITH u AS (
    SELECT * FROM unnest(:user_ids, :names, CAST(:opted AS boolean[]), :attributes, :followed)
        AS u(user_id, display_name, opted_out, attributes, followed)),
old AS (
    SELECT f.id, f.user_id, f.attributes, f.opted_out, f.followed_at, f.display_name
    FROM friends AS f JOIN u ON f.channel = :channel AND f.user_id = u.user_id),
upd AS (
    UPDATE friends AS f SET attributes = old.attributes || u.attributes::jsonb,
           opted_out = coalesce(u.opted_out, old.opted_out),
           followed_at = coalesce(u.followed::timestamptz, old.followed_at),
           display_name = coalesce(u.display_name, old.display_name), updated_at = :now
    FROM old JOIN u ON u.user_id = old.user_id
    WHERE f.id = old.id
      AND (old.attributes || u.attributes::jsonb, coalesce(u.opted_out, old.opted_out),
           coalesce(u.followed::timestamptz, old.followed_at), coalesce(u.display_name, old.display_name))
          IS DISTINCT FROM (old.attributes, old.opted_out, old.followed_at, old.display_name)
    RETURNING f.id),
ins AS (
    INSERT INTO friends (channel, user_id, display_name, status, opted_out, attributes, followed_at, created_at,
                         updated_at)
    SELECT :channel, u.user_id, u.display_name, 'active', coalesce(u.opted_out, false), u.attributes::jsonb,
           u.followed::timestamptz, :now, :now
    FROM u WHERE NOT EXISTS (SELECT 1 FROM old WHERE old.user_id = u.user_id)
    RETURNING id, user_id),
tagged AS (
    INSERT INTO friend_tags (friend_id, tag, created_at)
    SELECT ids.id, t.tag, :now
    FROM unnest(:tag_users, :tags) AS t(user_id, tag)
    JOIN (SELECT id, user_id FROM old UNION ALL SELECT id, user_id FROM ins) AS ids ON ids.user_id = t.user_id
    ON CONFLICT DO NOTHING
    RETURNING friend_id)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM old),
       -- a join, not IN: PostgreSQL does not hash an IN over a CTE (a scan of it per friend)
       (SELECT count(*) FROM (SELECT id FROM upd UNION SELECT friend_id FROM tagged) AS changed
                             JOIN old ON old.id = changed.id)""").bindparams(
    sa.bindparam("now", type_=UTCDateTime()), sa.bindparam("channel", type_=sa.Text),
    sa.bindparam("user_ids", type_=_TEXTS), sa.bindparam("names", type_=_TEXTS),
    sa.bindparam("opted", type_=_TEXTS), sa.bindparam("attributes", type_=_TEXTS),
    sa.bindparam("followed", type_=_TEXTS), sa.bindparam("tag_users", type_=_TEXTS),
    sa.bindparam("tags", type_=_TEXTS))


def merge_batch(session: Session, channel: str, rows: dict[str, Any], now: datetime) -> tuple[int, int, int]:
    """Upsert one batch of parsed rows (user id -> row with ``attributes``, ``tags``, ``opted_out``,
    ``followed_at``, ``display_name``; None: keep); (created, existing, updated)."""
    tag_users, tags = [], []
    for user_id, row in rows.items():
        for tag in dict.fromkeys(row.tags):
            tag_users.append(user_id)
            tags.append(tag)
    created, existing, updated = session.execute(_MERGE, {
        "now": now, "channel": channel, "user_ids": list(rows),
        "names": [row.display_name for row in rows.values()],
        "opted": [None if row.opted_out is None else _flag(row.opted_out) for row in rows.values()],
        "attributes": [json.dumps(row.attributes, ensure_ascii=False) for row in rows.values()],
        "followed": [_when(row.followed_at) for row in rows.values()], "tag_users": tag_users, "tags": tags}).one()
    return int(created), int(existing), int(updated)
