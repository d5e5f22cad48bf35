"""The two SQL dialects we run on: INSERT .. ON CONFLICT and row locking differ slightly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    """True on PostgreSQL (row locks, SKIP LOCKED); False on SQLite (one writer at a time)."""
    return session.get_bind().dialect.name == "postgresql"


def table_of(model: type[Any]) -> sa.Table:
    """The Core table of an ORM model (for executemany UPDATEs keyed by bind parameters)."""
    return cast(sa.Table, model.__table__)


def rowcount(result: Any) -> int:
    """Rows an UPDATE/DELETE touched."""
    return int(getattr(result, "rowcount", 0) or 0)


def among(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """``column IN values``; on PostgreSQL ``= ANY(array)``, one parameter however long the list.

    A 1,000-item IN list costs psycopg more to convert than the query costs to run.
    """
    if is_postgres(session):
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))


def insert_for(session: Session) -> Any:
    """The dialect's ``insert`` (both support ``on_conflict_do_nothing`` and ``returning``)."""
    return postgresql.insert if is_postgres(session) else sqlite.insert
