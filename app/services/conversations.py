"""Conversations (SPEC §9): operator messages, staff notices of handoffs, and the conversation
state of friends, for the API, the dashboard and the jobs (the chat log and the handoff inbox as
staff see them are :mod:`app.services.chats`).

An operator message is an outbox row (``operator_messages``) written before anything is sent: the
client's idempotency key makes a double submit find the same row, the push's retry key is drawn
before the first attempt, and a sweep finishes rows a killed worker or request left queued. So
it goes out exactly once. A young unused reply token is spent instead of quota when there is one.

Sending and notifying open their own transactions; the functions taking a ``session`` serve other
use cases and the jobs inside theirs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from app.config import DEFAULT_CHANNEL, Settings
from app.conversations import handoffs
from app.conversations import log as conversation_log
from app.conversations.richmenu_links import rich_menu_of, rich_menus_of
from app.errors import BadRequest, NotFound
from app.extensions import db
from app.line.channels import line_client
from app.line.client import Outcome, SendResult
from app.models.conversations import (
    DIRECTION_IN,
    KIND_OPERATOR,
    OPERATOR_FAILED,
    OPERATOR_HELD,
    OPERATOR_QUEUED,
    OPERATOR_SENT,
    ConversationMessage,
    Handoff,
    OperatorMessage,
)
from app.models.friends import Friend
from app.quota import tracker
from app.scenarios.loader import format_path
from app.scenarios.messages import Messages
from app.scenarios.render import render_messages

log = logging.getLogger(__name__)

REPLY_TOKEN_MAX_AGE = timedelta(seconds=50)  # LINE's tokens live about a minute: keep a margin
SWEEP_GRACE = timedelta(seconds=30)  # a queued row older than this was left by a lost request or job
MAX_ATTEMPTS = 8
_MESSAGES = TypeAdapter(Messages)

Enqueue = Callable[[int], object]  # hands an operator message id to the retry job


def find_friend(session: Session, user_id: str, channel: str | None = None, *, lock: bool = False) -> Friend:
    """The friend by LINE user id (any channel unless named), in the caller's transaction; NotFound otherwise."""
    statement = sa.select(Friend).where(Friend.user_id == user_id)
    if channel:
        statement = statement.where(Friend.channel == channel)
    if lock:
        statement = statement.with_for_update()
    friend = session.scalars(statement.order_by(Friend.id).limit(1)).first()
    if friend is None:
        raise NotFound(f"no friend {user_id!r}")
    return friend


def friend_conversation_state(session: Session, friend: Friend) -> dict[str, Any]:
    """What this branch adds to the friend JSON: ``handoff`` and ``rich_menu`` (in the caller's transaction)."""
    return {"handoff": handoffs.handoff_state(session, friend.id), "rich_menu": rich_menu_of(session, friend.id)}


def friends_conversation_state(session: Session, friend_ids: list[int]) -> dict[int, dict[str, Any]]:
    """:func:`friend_conversation_state` of a page of friends in two queries, by friend id."""
    open_ = handoffs.handoff_states(session, friend_ids)
    menus = rich_menus_of(session, friend_ids)
    return {fid: {"handoff": open_.get(fid), "rich_menu": menus.get(fid)} for fid in friend_ids}


# --- operator messages -------------------------------------------------------------------------


@dataclass(frozen=True)
class OperatorSend:
    """The answer to a staff member's send: how it goes (reply/push) and how many messages went."""

    message_id: int
    via: str
    sent: int
    status: str
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"via": self.via, "sent": self.sent, "status": self.status}
        if self.error:
            data["error"] = self.error
        return data


def check_messages(raw: Any) -> list[Any]:
    """Validate message objects exactly as a step's (BadRequest-shaped 422 details otherwise)."""
    try:
        return list(_MESSAGES.validate_python(raw))
    except ValidationError as exc:
        raise MessagesInvalid([{"path": format_path(["messages", *[p for p in err["loc"]
                                                                   if not (isinstance(p, str) and p.startswith("~"))]]),
                                "message": err["msg"]} for err in exc.errors()]) from None


class MessagesInvalid(BadRequest):
    """The operator's messages are not valid message objects (422)."""

    def __init__(self, details: list[dict[str, object]]) -> None:
        super().__init__("messages are invalid", details)


def _young_token(session: Session, friend_id: int, now: datetime) -> ConversationMessage | None:
    return session.scalars(sa.select(ConversationMessage).where(
        ConversationMessage.friend_id == friend_id, ConversationMessage.direction == DIRECTION_IN,
        ConversationMessage.token_used.is_(False), ConversationMessage.reply_token.is_not(None),
        ConversationMessage.at > now - REPLY_TOKEN_MAX_AGE)
        .order_by(ConversationMessage.at.desc(), ConversationMessage.id.desc()).limit(1)).first()


def submit_operator_message(user_id: str, raw_messages: Any, *, idempotency_key: str, staff: str,
                            settings: Settings, now: datetime, enqueue: Enqueue) -> OperatorSend:
    """Write the outbox row (or find the one this key already wrote), then send it once.

    Without a key from the client a fresh one is drawn: the send still happens once, but only a
    client key makes a double submit or a client-side retry safe.
    """
    if len(idempotency_key) > 200:
        raise BadRequest("idempotency key too long", [{"message": "an Idempotency-Key of at most 200 characters"}])
    idempotency_key = idempotency_key or f"auto:{uuid.uuid4()}"
    checked = check_messages(raw_messages)
    with db.transaction() as session:
        friend = find_friend(session, user_id, lock=True)
        existing = session.scalars(sa.select(OperatorMessage).where(
            OperatorMessage.friend_id == friend.id, OperatorMessage.idempotency_key == idempotency_key)).first()
        if existing is not None:  # a double submit or a retry: never a second send
            return _answer(existing)
        if friend.is_blocked:
            raise BadRequest("friend blocked the account", [{"message": "nothing can reach a blocked friend"}])
        rendered = render_messages(checked, display_name=friend.display_name, attributes=friend.attributes or {})
        row = OperatorMessage(friend_id=friend.id, channel=friend.channel or DEFAULT_CHANNEL,
                              idempotency_key=idempotency_key, messages=rendered, staff=staff, created_at=now,
                              status=OPERATOR_QUEUED)
        token = _young_token(session, friend.id, now)
        if token is not None:
            token.token_used = True
            row.via, row.reply_token = "reply", token.reply_token
        else:
            row.via, row.retry_key = "push", str(uuid.uuid4())
            if not tracker.reserve(session, row.channel, 1, now):
                row.status, row.error = OPERATOR_HELD, "monthly quota exhausted"
            else:
                row.quota_reserved = True
        session.add(row)
        session.flush()
        message_id = row.id
        if row.status == OPERATOR_HELD:
            return _answer(row)
    return deliver(message_id, settings=settings, now=now, enqueue=enqueue)


def _answer(row: OperatorMessage) -> OperatorSend:
    return OperatorSend(row.id, row.via, len(row.messages) if row.status == OPERATOR_SENT else 0, row.status,
                        row.error)


def deliver(message_id: int, *, settings: Settings, now: datetime, enqueue: Enqueue) -> OperatorSend:
    """Send a queued operator message (request, retry job or sweep: the same code, the same keys)."""
    with db.transaction() as session:  # count the attempt before making it: a lost answer is then known
        row = session.get(OperatorMessage, message_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no operator message {message_id}")
        if row.status != OPERATOR_QUEUED:
            return _answer(row)
        user_id = session.scalar(sa.select(Friend.user_id).where(Friend.id == row.friend_id))
        via, token, retry_key, messages, channel = row.via, row.reply_token, row.retry_key, row.messages, row.channel
        earlier_attempts = row.attempts
        row.attempts += 1
    client = line_client(settings, channel)
    if via == "reply" and token:
        result = client.reply(token, messages)
        if result.outcome is Outcome.REJECTED and earlier_attempts > 0:
            # an earlier attempt timed out after LINE took the token: it was delivered then
            result = SendResult(Outcome.ACCEPTED, result.status, result.request_id)
        elif result.outcome is Outcome.REJECTED:  # the token expired meanwhile: push instead
            return _switch_to_push(message_id, settings=settings, now=now, enqueue=enqueue)
    else:
        result = client.push(str(user_id), messages, str(retry_key))
    return _record(message_id, result, now, enqueue)


def _switch_to_push(message_id: int, *, settings: Settings, now: datetime, enqueue: Enqueue) -> OperatorSend:
    with db.transaction() as session:
        row = session.get(OperatorMessage, message_id, with_for_update=True)
        assert row is not None
        if row.status != OPERATOR_QUEUED or row.via != "reply":
            return _answer(row)
        row.via, row.reply_token, row.retry_key = "push", None, str(uuid.uuid4())
        if not tracker.reserve(session, row.channel, 1, now):
            row.status, row.error = OPERATOR_HELD, "monthly quota exhausted"
            return _answer(row)
        row.quota_reserved = True
    return deliver(message_id, settings=settings, now=now, enqueue=enqueue)


def _record(message_id: int, result: SendResult, now: datetime, enqueue: Enqueue) -> OperatorSend:
    retry = False
    with db.transaction() as session:
        row = session.get(OperatorMessage, message_id, with_for_update=True)
        assert row is not None
        if row.status != OPERATOR_QUEUED:
            return _answer(row)
        if result.sent:
            row.status, row.sent_at, row.error = OPERATOR_SENT, now, None
            if row.via == "push":
                tracker.record_sent(session, row.channel, 1, now)
            conversation_log.log_outgoing(session, row.friend_id, KIND_OPERATOR, row.messages, now, staff=row.staff)
        elif result.outcome in (Outcome.TRANSIENT, Outcome.RATE_LIMITED) and row.attempts < MAX_ATTEMPTS:
            row.error, retry = result.message or result.outcome.value, True
        else:
            row.status = OPERATOR_HELD if result.outcome is Outcome.QUOTA_EXHAUSTED else OPERATOR_FAILED
            row.error = result.message or result.outcome.value
            if result.outcome is Outcome.QUOTA_EXHAUSTED:
                tracker.mark_exhausted(session, row.channel, now)
            if row.quota_reserved:
                tracker.release(session, row.channel, 1, now)
                row.quota_reserved = False
        answer = _answer(row)
    if retry:
        enqueue(message_id)
    return answer


def stale_operator_messages(session: Session, now: datetime, grace: timedelta = SWEEP_GRACE) -> list[int]:
    """Queued operator messages nobody is sending any more (a killed worker or request)."""
    return list(session.scalars(sa.select(OperatorMessage.id).where(
        OperatorMessage.status == OPERATOR_QUEUED, OperatorMessage.created_at < now - grace).limit(500)))


# --- telling staff about handoffs ----------------------------------------------------------------

SIGNATURE_HEADER = "X-Stepline-Signature"
NOTIFY_MAX_ATTEMPTS = 10
Post = Callable[[str, bytes, dict[str, str]], int]  # (url, body, headers) → HTTP status (raises on network errors)


def _handoff_notice(session: Session, handoff_id: int) -> dict[str, Any] | None:
    """The JSON staff receive when a friend is handed to them (None: closed or gone meanwhile)."""
    row = session.get(Handoff, handoff_id)
    if row is None or row.closed_at is not None:
        return None
    friend = session.get(Friend, row.friend_id)
    if friend is None:
        return None
    return {"type": "handoff.opened", "handoff_id": row.id, "user_id": friend.user_id,
            "display_name": friend.display_name, "channel": friend.channel, "note": row.note,
            "source": row.source, "opened_at": row.opened_at.isoformat(), "waiting": handoffs.count_open(session)}


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the raw body>``: the receiver recomputes it with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def notify_staff(handoff_id: int, *, settings: Settings, now: datetime, post: Post) -> bool:
    """POST the notice to ``STAFF_WEBHOOK_URL`` (signed with ``STAFF_WEBHOOK_SECRET``); True when
    done or nothing to do, raises :class:`NoticeFailed` so the job retries."""
    if not settings.staff_webhook_url:
        return True
    with db.transaction() as session:
        row = session.get(Handoff, handoff_id, with_for_update=True)
        if row is None or row.notified_at is not None:
            return True
        notice = _handoff_notice(session, handoff_id)
        if notice is None:
            return True
        row.notify_attempts += 1
    body = json.dumps(notice, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "stepline"}
    if settings.staff_webhook_secret:
        headers[SIGNATURE_HEADER] = sign(settings.staff_webhook_secret, body)
    try:
        status = post(settings.staff_webhook_url, body, headers)
    except Exception as exc:  # noqa: BLE001 - any network failure is a retry
        raise NoticeFailed(f"staff webhook unreachable: {type(exc).__name__}") from exc
    if not 200 <= status < 300:
        raise NoticeFailed(f"staff webhook answered {status}")
    with db.transaction() as session:
        row = session.get(Handoff, handoff_id, with_for_update=True)
        if row is not None:
            row.notified_at = now
    log.info("staff told about handoff %s", handoff_id)
    return True


class NoticeFailed(Exception):
    """The staff webhook did not take the notice (the job retries, then the sweep)."""


def unnotified_handoffs(session: Session, now: datetime, grace: timedelta = SWEEP_GRACE) -> list[int]:
    """Open handoffs staff were not told about yet (the job's retries ran out, or Redis was down)."""
    return list(session.scalars(sa.select(Handoff.id).where(
        Handoff.closed_at.is_(None), Handoff.notified_at.is_(None), Handoff.opened_at < now - grace,
        Handoff.notify_attempts < NOTIFY_MAX_ATTEMPTS).limit(100)))


def sweep(now: datetime, send: Enqueue, notify: Enqueue) -> int:
    """Scheduler task: operator messages left queued go to ``send`` again, open handoffs staff were
    never told about go to ``notify``; how many were handed on."""
    with db.read() as session:
        stale = stale_operator_messages(session, now)
        unnotified = unnotified_handoffs(session, now)
    for message_id in stale:
        send(message_id)
    for handoff_id in unnotified:
        notify(handoff_id)
    return len(stale) + len(unnotified)
