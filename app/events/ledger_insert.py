"""The webhook's ledger insert on the driver's cursor: one fixed statement per batch that skips
webhookEventIds already stored and says which events are new.

The insert is on the path LINE waits on, once per group-commit batch. Through SQLAlchemy's
``Connection.execute`` (insertmanyvalues, result processing) a one-event batch cost the web
process ~690 µs of CPU on PostgreSQL; on the cursor it costs ~250–500 µs (``python -m
bench.webhook_parts``). PostgreSQL gets the batch as one JSON document (``jsonb_to_recordset``:
a constant text psycopg prepares once per connection); SQLite gets a multi-row ``VALUES`` whose
values pass through the columns' own SQLAlchemy bind processors, so what is stored is exactly
what the ORM would store. Driver errors come out as SQLAlchemy's, and a dropped connection is
invalidated, as ``Connection.execute`` would do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa

from app.dialect import json_document
from app.models.events import WebhookEvent

Row = Mapping[str, Any]  # as app.events.ledger._row builds it: a value for each column below

COLUMNS = ("webhook_event_id", "channel", "type", "source_type", "user_id", "mode", "is_redelivery", "timestamp",
           "payload", "received_at", "status", "processed_at")
SQLITE_ROWS_PER_STATEMENT = 500  # 12 values a row, well inside SQLite's 32,766 variables

POSTGRES_INSERT = """
INSERT INTO webhook_events (webhook_event_id, channel, type, source_type, user_id, mode, is_redelivery, timestamp,
                            payload, received_at, status, processed_at)
SELECT e.id, e.channel, e.type, e.source_type, e.user_id, e.mode, e.redelivery, e.at::timestamptz,
       e.payload, %(now)s, e.status, CASE WHEN e.done THEN %(now)s END
FROM jsonb_to_recordset(%(events)s::jsonb)
    AS e(id text, channel text, type text, source_type text, user_id text, mode text, redelivery bool, at text,
         payload jsonb, status text, done bool)
ON CONFLICT (webhook_event_id) DO NOTHING
RETURNING webhook_event_id
"""


def insert_new(connection: sa.Connection, rows: Sequence[Row], now: datetime) -> set[str]:
    """Insert ledger rows; the webhookEventIds that were new."""
    if connection.dialect.name == "postgresql":
        document = json_document([{"id": r["webhook_event_id"], "channel": r["channel"], "type": r["type"],
                                    "source_type": r["source_type"], "user_id": r["user_id"], "mode": r["mode"],
                                    "redelivery": r["is_redelivery"], "at": r["timestamp"].isoformat(),
                                    "payload": r["payload"], "status": r["status"],
                                    "done": r["processed_at"] is not None} for r in rows])
        return set(_fetch(connection, POSTGRES_INSERT, {"now": now, "events": document}))
    binds = _bind_processors(connection.dialect)
    new: set[str] = set()
    for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
        chunk = rows[start:start + SQLITE_ROWS_PER_STATEMENT]
        values = [bind(row[column]) for row in chunk for column, bind in zip(COLUMNS, binds, strict=True)]
        new.update(_fetch(connection, _sqlite_insert(len(chunk)), values))
    return new


@cache
def _sqlite_insert(count: int) -> str:
    row = "(" + ", ".join("?" * len(COLUMNS)) + ")"
    return (f"INSERT INTO webhook_events ({', '.join(COLUMNS)}) VALUES {', '.join([row] * count)} "
            "ON CONFLICT (webhook_event_id) DO NOTHING RETURNING webhook_event_id")


@cache
def _bind_processors(dialect: sa.Dialect) -> tuple[Callable[[Any], Any], ...]:
    table = WebhookEvent.__table__
    processors = [table.c[column].type.dialect_impl(dialect).bind_processor(dialect) for column in COLUMNS]
    return tuple(processor or _same for processor in processors)


def _same(value: Any) -> Any:
    return value


def _fetch(connection: sa.Connection, statement: str, parameters: Any) -> list[Any]:
    """The first column of every row ``statement`` returns, run on the driver's cursor."""
    fairy = connection.connection
    cursor = fairy.cursor()
    dbapi = connection.dialect.loaded_dbapi
    try:
        cursor.execute(statement, parameters)
        return [row[0] for row in cursor.fetchall()]
    except dbapi.Error as exc:
        disconnected = connection.dialect.is_disconnect(exc, fairy, cursor)
        if disconnected:
            connection.invalidate(exc)
        raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error, hide_parameters=True,
                                         connection_invalidated=disconnected, dialect=connection.dialect) from exc
    finally:
        cursor.close()
