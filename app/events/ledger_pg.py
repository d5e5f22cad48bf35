"""PostgreSQL fast path for the webhook's ledger insert: one fixed statement fed by one JSON
document, run on the driver's cursor.

The insert is on the path LINE waits on, once per group-commit batch. Through SQLAlchemy's
``Connection.execute`` (insertmanyvalues, result processing) it cost ~600 µs of the web
process's CPU per one-event batch; the same insert on the psycopg cursor costs ~250 µs
(``python -m bench.webhook_parts``). The statement text never changes,
so psycopg prepares it once per connection; ``RETURNING`` says which events are new, and
``ON CONFLICT`` skips a redelivery, as the portable statement in :mod:`app.events.ledger` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa

INSERT = """
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


def insert_new(connection: sa.Connection, rows: Iterable[Mapping[str, Any]], now: datetime) -> set[str]:
    """Insert ledger rows (as :func:`app.events.ledger._row` builds them); the webhookEventIds that
    were new. Driver errors come out as SQLAlchemy's, the connection invalidated on a disconnect,
    as ``Connection.execute`` would."""
    document = json.dumps([{"id": r["webhook_event_id"], "channel": r["channel"], "type": r["type"],
                            "source_type": r["source_type"], "user_id": r["user_id"], "mode": r["mode"],
                            "redelivery": r["is_redelivery"], "at": r["timestamp"].isoformat(), "payload": r["payload"],
                            "status": r["status"], "done": r["processed_at"] is not None} for r in rows],
                          ensure_ascii=False, separators=(",", ":"))
    fairy = connection.connection
    cursor = fairy.cursor()
    try:
        cursor.execute(INSERT, {"now": now, "events": document})
        return {key for (key,) in cursor.fetchall()}
    except psycopg.Error as exc:
        disconnected = connection.dialect.is_disconnect(exc, fairy, cursor)  # type: ignore[arg-type]
        if disconnected:
            connection.invalidate(exc)
        raise sa.exc.DBAPIError.instance(INSERT, None, exc, psycopg.Error, hide_parameters=True,
                                         connection_invalidated=disconnected, dialect=connection.dialect) from exc
    finally:
        cursor.close()
