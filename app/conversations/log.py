"""The per-friend conversation log: incoming messages, rule replies and operator messages are rows
of ``conversation_messages``; sent steps are read from the deliveries table (no second write on the
sender's hot path), so a page merges both."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session, SessionTransaction

from app import session_memo
from app.dialect import json_document, table_of
from app.models.conversations import (
    DIRECTION_IN,
    DIRECTION_OUT,
    KIND_MESSAGE,
    KIND_POSTBACK,
    KIND_STEP,
    ConversationMessage,
)
from app.models.delivery import DELIVERY_SENT, Delivery
from app.models.friends import Friend
from app.scenarios.render import render_messages

MAX_PAGE = 1000
_META_KEYS = ("id", "packageId", "stickerId", "fileName", "fileSize", "duration", "contentProvider", "title",
              "address", "latitude", "longitude")


class Entry(NamedTuple):
    """One line of the chat as the API shows it."""

    at: datetime
    direction: str
    kind: str
    text: str | None
    scenario: str | None
    step: str | None
    staff: str | None
    meta: dict[str, Any] | None
    order: tuple[int, int]  # a stable tie-break for equal times: (source, id)

    def to_dict(self) -> dict[str, Any]:
        """The API shape (SPEC §9)."""
        data: dict[str, Any] = {"at": self.at.isoformat(), "direction": self.direction, "kind": self.kind,
                                "text": self.text, "scenario": self.scenario, "step": self.step, "staff": self.staff}
        if self.meta:
            data["meta"] = self.meta
        return data


def summarize(messages: list[dict[str, Any]]) -> str:
    """LINE message objects → one line of text for the log (non-text messages as ``[type]``)."""
    parts = []
    for message in messages:
        kind = message.get("type")
        parts.append(str(message.get("text") or "") if kind == "text" else f"[{kind}]")
    return "\n".join(parts)


@dataclass
class LogLine:
    """A row of ``conversation_messages`` to write (every column but the id): plain data, so a
    worker's batch of messages costs no ORM object a row."""

    friend_id: int
    at: datetime
    direction: str
    kind: str
    text: str | None = None
    meta: dict[str, Any] | None = None
    scenario_id: str | None = None
    ruleset_id: str | None = None
    staff: str | None = None
    event_id: int | None = None
    reply_token: str | None = None
    token_used: bool = False


def log_incoming(session: Session, friend: Friend, *, event_type: str, payload: dict[str, Any], event_id: int,
                 at: datetime, reply_token: str | None) -> LogLine:
    """An incoming message or postback to keep (a sticker, image or file as metadata only), not
    yet kept: :func:`app.delivery.rules.on_incoming` keeps it once it knows whether a rule spent
    its reply token, so the row is written once, never inserted and then updated."""
    if event_type == "postback":
        postback = payload.get("postback") or {}
        kind, text, meta = KIND_POSTBACK, postback.get("data"), ({"params": postback["params"]}
                                                                 if postback.get("params") else None)
    else:
        message = payload.get("message") or {}
        kind = KIND_MESSAGE
        text = message.get("text") if message.get("type") == "text" else None
        meta = {"type": message.get("type"), **{k: message[k] for k in _META_KEYS if k in message}}
        if message.get("type") == "text":
            meta = None
    return LogLine(friend_id=friend.id, at=at, direction=DIRECTION_IN, kind=kind, text=text, meta=meta,
                   event_id=event_id, reply_token=reply_token, token_used=reply_token is None)


def log_outgoing(session: Session, friend_id: int, kind: str, messages: list[dict[str, Any]], at: datetime, *,
                 scenario_id: str | None = None, ruleset_id: str | None = None, staff: str | None = None,
                 event_id: int | None = None) -> None:
    """Keep a rule reply or an operator message."""
    keep(session, LogLine(friend_id=friend_id, at=at, direction=DIRECTION_OUT, kind=kind, text=summarize(messages),
                          scenario_id=scenario_id, ruleset_id=ruleset_id, staff=staff, event_id=event_id,
                          token_used=True))


# --- the transaction's rows, written in one statement when it commits -----------------------------

_KEPT = "chat_log_kept"


def keep(session: Session, line: LogLine) -> None:
    """Add ``line`` to this transaction's chat log (once, however often it is kept; in the order
    first kept). The rows are written together just before the transaction commits
    (:func:`write_kept`), so nothing in the same transaction reads them back; a savepoint that
    rolls back takes the rows kept inside it along (:func:`_drop_rolled_back`), as it would ORM objects."""
    if session.get_transaction() is None:  # nothing to gather in (every writer runs in a transaction)
        _insert(session, [line])
        return
    kept: dict[int, tuple[LogLine, SessionTransaction | None]] = session_memo.memo(session, _KEPT, dict)
    kept.setdefault(id(line), (line, session.get_nested_transaction()))


@sa.event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    """A savepoint rolled back: forget the rows kept inside it (or inside a savepoint within it)."""
    kept: dict[int, tuple[LogLine, SessionTransaction | None]] | None = session_memo.peek(session, _KEPT)
    if not kept or not previous.nested:
        return  # the whole transaction rolled back: its rows are never looked at again
    for key, (_line, scope) in list(kept.items()):
        while scope is not None and scope is not previous:
            scope = scope.parent
        if scope is previous:
            del kept[key]


@sa.event.listens_for(Session, "before_commit")
def write_kept(session: Session) -> None:
    """Write the rows this transaction kept (run by every session just before it commits)."""
    kept: dict[int, tuple[LogLine, SessionTransaction | None]] | None = session_memo.peek(session, _KEPT)
    if kept:
        lines = [line for line, _scope in kept.values()]
        kept.clear()
        _insert(session, lines)


_POSTGRES_INSERT = sa.text("""
INSERT INTO conversation_messages (friend_id, at, direction, kind, text, meta, scenario_id, ruleset_id, staff,
                                   event_id, reply_token, token_used)
SELECT r.friend_id, r.at, r.direction, r.kind, r.text, r.meta, r.scenario_id, r.ruleset_id, r.staff,
       r.event_id, r.reply_token, r.token_used
FROM ROWS FROM (jsonb_to_recordset(CAST(:rows AS jsonb))
    AS (friend_id integer, at timestamptz, direction text, kind text, text text, meta jsonb, scenario_id text,
        ruleset_id text, staff text, event_id integer, reply_token text, token_used boolean)) WITH ORDINALITY AS r
ORDER BY r.ordinality
""")


def _insert(session: Session, lines: list[LogLine]) -> None:
    """One statement for the rows, ids in their order. PostgreSQL gets one JSON document (a fixed
    text psycopg prepares once; a multi-row VALUES over 50 parameters is parsed again every time)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_POSTGRES_INSERT, {"rows": json_document(
            [{**asdict(line), "at": line.at.isoformat()} for line in lines])})
    else:
        # Core, every column given: the ORM's bulk insert leaves out None values and splits the
        # rows into a statement per run of equal column sets (in, out, in, out: one a row)
        session.execute(table_of(ConversationMessage).insert(), [asdict(line) for line in lines])


def mark_token_used(session: Session, event_id: int) -> None:
    """The event's reply token was spent (by a rule reply): operators must push instead."""
    session.execute(sa.update(ConversationMessage).where(ConversationMessage.event_id == event_id,
                                                         ConversationMessage.direction == DIRECTION_IN)
                    .values(token_used=True).execution_options(synchronize_session=False))


def history(session: Session, friend: Friend, limit: int, step_text: Any) -> list[Entry]:
    """The newest ``limit`` entries of the friend's chat, oldest first.

    ``step_text(scenario_id, version, step_id, friend)`` gives a sent step's text (from its definition).
    """
    limit = max(1, min(limit, MAX_PAGE))
    logged = session.execute(
        sa.select(ConversationMessage).where(ConversationMessage.friend_id == friend.id)
        .order_by(ConversationMessage.at.desc(), ConversationMessage.id.desc()).limit(limit)
    ).scalars().all()
    steps = session.execute(
        sa.select(Delivery.id, Delivery.sent_at, Delivery.scenario_id, Delivery.scenario_version, Delivery.step_id)
        .where(Delivery.friend_id == friend.id, Delivery.status == DELIVERY_SENT)
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc()).limit(limit)
    ).all()
    entries = [Entry(m.at, m.direction, m.kind, m.text, m.scenario_id or m.ruleset_id, None, m.staff, m.meta,
                     (1, m.id)) for m in logged]
    entries += [Entry(d.sent_at, DIRECTION_OUT, KIND_STEP,
                      step_text(d.scenario_id, d.scenario_version, d.step_id, friend), d.scenario_id, d.step_id,
                      None, None, (0, d.id)) for d in steps if d.sent_at is not None]
    entries.sort(key=lambda e: (e.at, e.order))
    return entries[-limit:]


def render_step_text(definition: Any, step_id: str, friend: Friend) -> str | None:
    """A step's messages as the friend got them (variables filled from the friend's current data)."""
    step = next((s for s in definition.steps if s.id == step_id), None)
    if step is None:
        return None
    return summarize(render_messages(step.messages, display_name=friend.display_name,
                                     attributes=friend.attributes or {}))
