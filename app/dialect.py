"""The two SQL dialects we run on: INSERT .. ON CONFLICT and row locking differ slightly."""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    """True on PostgreSQL (row locks, SKIP LOCKED); False on SQLite (one writer at a time)."""
    return session.get_bind().dialect.name == "postgresql"


def json_document(value: Any) -> str:
    """``value`` as the one JSON text a PostgreSQL bulk statement reads with ``jsonb_to_recordset``
    (imports, clicks, the webhook ledger): compact, non-ASCII kept as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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
    values = list(values)
    if not is_postgres(session):
        return column.in_(values)
    if values and all(type(value) is int for value in values):
        # untyped, so PostgreSQL folds the cast once at planning: bound as text (``::VARCHAR``) the
        # cast stays in the plan and parses the whole array again for every row a filter checks
        untyped = sa.bindparam(None, int_array(values), type_=sa.types.NullType())
        return column == sa.any_(sa.cast(untyped, postgresql.ARRAY(column.type)))
    return column == sa.any_(sa.bindparam(None, values, type_=postgresql.ARRAY(column.type)))


def still(column: Any, value: Any) -> Any:
    """``column = value`` as a check on rows found by primary key, never as a way to find them.

    Written ``IS NOT DISTINCT FROM`` (same result on a NOT NULL column), which no index serves
    and no partial index predicate matches: with statistics taken before a burst, a plain
    ``status = 'sending'`` next to ``id = ANY(500 ids)`` made PostgreSQL walk the status index,
    whose entries (dead versions included) grow with every row that ever passed that status.
    """
    return column.is_not_distinct_from(value)


def int_array(values: Sequence[int]) -> str:
    """A PostgreSQL integer array as its text (``{1,2,3}``), to bind for ``CAST(:p AS int[])``:
    psycopg dumps a list of ints at ~1.4 µs an element, this text at a fraction of that."""
    return "{" + ",".join(map(str, values)) + "}"


@lru_cache(maxsize=64)
def plain_type(fields: tuple[str, ...]) -> Any:
    """The named tuple type of rows with these fields (one class per field list)."""
    return namedtuple("Plain", fields, rename=True)  # type: ignore[misc]  # noqa: PYI024 - fields known at run time


def plain_rows(result: sa.Result[Any]) -> list[Any]:
    """The rows of ``result`` as named tuples, fields named as the select's columns.

    Reading a field of SQLAlchemy's ``Row`` by name costs ~0.5 µs (its ``__getattr__``), of a named
    tuple ~30 ns: the loops that read a dozen fields of thousands of rows per batch feel it.
    """
    return list(map(plain_type(tuple(result.keys()))._make, result))


def insert_for(session: Session) -> Any:
    """The dialect's ``insert`` (both support ``on_conflict_do_nothing`` and ``returning``)."""
    return postgresql.insert if is_postgres(session) else sqlite.insert
