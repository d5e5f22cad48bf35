"""A friend's pending ledger events, processed in timestamp order: the job's use case.

Reads first (profile need, regex matches: no write lock held while a friend's text is matched),
then one write transaction for every event, then what must wait for the commit: replies with
the events' tokens, staff notices, rich menu links.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.conversations import log as conversation_log
from app.delivery import enrollment
from app.delivery.blocking import stop_for_block
from app.delivery.rules import Effects, on_incoming
from app.events import friend_state, ledger, pending
from app.extensions import db
from app.line.client import LineClient
from app.models.events import EVENT_FAILED, EVENT_PROCESSED, WebhookEvent
from app.models.friends import Friend
from app.scenarios.matching import using_precomputed
from app.services import routes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingReply:
    """A reply to send with the event's reply token once the transaction has committed."""

    reply_token: str
    messages: list[dict[str, Any]]
    event_id: str


@dataclass
class ProcessResult:
    processed: int = 0
    failed: int = 0
    replies: list[PendingReply] = field(default_factory=list)
    effects: Effects = field(default_factory=Effects)  # rich menu links and handoffs to tell LINE / staff about


def handle_pending(channel: str, user_id: str, clock: Callable[[], datetime], *, line: Callable[[], LineClient],
                   notify_staff: Callable[[int], object],
                   link_rich_menus: Callable[[str, str, list[str]], None]) -> int:
    """Process every pending event of one friend; running it twice does nothing the second time.
    How many events were processed."""
    display_name = None
    with db.read() as session:
        wants_profile = pending.needs_profile(session, channel, user_id)
        matches = pending.precompute_keyword_matches(session, channel, user_id)
    if wants_profile:
        profile = line().profile(user_id)  # best-effort: None on any failure
        display_name = (profile or {}).get("displayName")
    with db.transaction() as session, using_precomputed(matches):
        result = process_friend_events(session, channel, user_id, clock(), display_name=display_name)
    for reply in result.replies:
        outcome = line().reply(reply.reply_token, reply.messages)
        log.info("reply to event %s: %s", reply.event_id, outcome.outcome)
    for handoff_id in result.effects.handoffs_opened:
        notify_staff(handoff_id)
    if result.effects.rich_menus:
        link_rich_menus(channel, user_id, result.effects.rich_menus)
    return result.processed


def sweep_pending(older_than: datetime, signal: Callable[[list[tuple[str, str]]], object]) -> int:
    """Signal again the friends whose events were stored before ``older_than`` but never processed
    (Redis was down, a job was lost); how many friends."""
    with db.read() as session:
        friends = ledger.friends_with_pending_events(session, older_than)
    if friends:
        signal(friends)
        log.info("event sweep: %d friends with pending events signalled", len(friends))
    return len(friends)


def process_friend_events(
    session: Session, channel: str, user_id: str, now: datetime, *, display_name: str | None = None
) -> ProcessResult:
    """Apply every pending event of one friend; each event is isolated in a savepoint."""
    friend = friend_state.lock_friend(session, channel, user_id, now)
    if display_name:
        friend.display_name = display_name
    result = ProcessResult()
    for event in pending.pending_events(session, channel, user_id):
        try:
            with session.begin_nested():
                reply = _apply(session, friend, event, now, result.effects)
                event.status, event.error, event.processed_at = EVENT_PROCESSED, None, now
            result.processed += 1
            if reply:
                result.replies.append(reply)
        except Exception as exc:  # noqa: BLE001 - one bad event must not block the friend's others
            log.exception("event %s for friend %s failed", event.webhook_event_id, friend.id)
            event.status, event.error, event.processed_at = EVENT_FAILED, f"{type(exc).__name__}: {exc}", now
            result.failed += 1
    return result


def _apply(session: Session, friend: Friend, event: WebhookEvent, now: datetime,
           effects: Effects) -> PendingReply | None:
    payload = event.payload
    if event.type == "follow":
        change = friend_state.apply_follow(friend, event.timestamp)
        if change.applied:
            _on_follow(session, friend, event, change, now)
        return None
    if event.type == "unfollow":
        if friend_state.apply_unfollow(friend, event.timestamp):
            session.flush()
            stopped, cancelled = stop_for_block(session, friend.id, now)
            log.info("friend %s blocked: %d enrollments stopped, %d deliveries cancelled", friend.id, stopped,
                     cancelled)
        return None
    if event.type == "message":
        if friend_state.apply_message(friend, event.timestamp):
            enrollment.on_start_field_changed(session, friend, "last_message_at", now)
        message = payload.get("message") or {}
        text = message.get("text") if message.get("type") == "text" else None
        return _on_incoming(session, friend, event, text=text, postback=None, now=now, effects=effects)
    if event.type == "postback":
        data = (payload.get("postback") or {}).get("data")
        return _on_incoming(session, friend, event, text=None, postback=data, now=now, effects=effects)
    return None


def _on_follow(session: Session, friend: Friend, event: WebhookEvent, change: friend_state.FollowChange,
               now: datetime) -> None:
    """Enroll into follow-triggered scenarios, or apply each scenario's ``on_refollow`` policy."""
    enrollment.on_follow(session, friend, at=event.timestamp, is_new=change.is_new, is_refollow=change.is_refollow,
                         now=now)
    routes.on_follow(session, friend, now)  # a friend-add route's login waiting for this follow (SPEC §10)


def _on_incoming(session: Session, friend: Friend, event: WebhookEvent, *, text: str | None,
                 postback: str | None, now: datetime, effects: Effects) -> PendingReply | None:
    """Log the message, run keyword / postback rules; a reply is answered with the event's token
    after the commit."""
    reply_token = event.payload.get("replyToken") if event.mode != "standby" else None
    logged = conversation_log.log_incoming(session, friend, event_type=event.type, payload=event.payload,
                                           event_id=event.id, at=event.timestamp, reply_token=reply_token)
    messages = on_incoming(session, friend, event_id=event.id, reply_token=reply_token, text=text,
                           postback=postback, at=event.timestamp, now=now, effects=effects, logged=logged)
    if messages and reply_token:
        return PendingReply(reply_token, messages, event.webhook_event_id)
    return None
