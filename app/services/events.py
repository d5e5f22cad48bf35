"""Process a friend's pending ledger events in timestamp order, inside one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.conversations import log as conversation_log
from app.delivery import enrollment
from app.delivery.blocking import stop_for_block
from app.delivery.rules import Effects, on_incoming
from app.models.delivery import ENROLLMENT_ACTIVE, Enrollment
from app.models.events import EVENT_FAILED, EVENT_PROCESSED, WebhookEvent
from app.models.friends import Friend
from app.scenarios import matching
from app.scenarios.rule_defs import KeywordWhen
from app.scenarios.store import definition_for, live_scenarios
from app.services import friends as friend_state
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


def pending_events(session: Session, channel: str, user_id: str) -> list[WebhookEvent]:
    """The friend's unprocessed events, oldest first by LINE's timestamp (arrival order is not reliable)."""
    return list(
        session.scalars(
            sa.select(WebhookEvent)
            .where(
                WebhookEvent.channel == channel,
                WebhookEvent.user_id == user_id,
                WebhookEvent.processed_at.is_(None),
            )
            .order_by(WebhookEvent.timestamp, WebhookEvent.id)
        )
    )


def needs_profile(session: Session, channel: str, user_id: str) -> bool:
    """True when a pending follow exists and we do not know the friend's display name yet."""
    has_follow = session.scalar(
        sa.select(sa.func.count())
        .select_from(WebhookEvent)
        .where(WebhookEvent.channel == channel, WebhookEvent.user_id == user_id,
               WebhookEvent.processed_at.is_(None), WebhookEvent.type == "follow")
    )
    if not has_follow:
        return False
    name = session.scalar(sa.select(Friend.display_name).where(Friend.channel == channel, Friend.user_id == user_id))
    return not name


def precompute_keyword_matches(session: Session, channel: str, user_id: str) -> dict[matching.MatchKey, bool]:
    """Run the regex keyword rules the friend's pending texts will meet, in a read transaction
    before the write one (``matching.using_precomputed``): the write lock is never held while a
    friend's text is matched. Anything not foreseen here is matched in the transaction, still
    in linear time."""
    texts = [text for payload in session.scalars(
        sa.select(WebhookEvent.payload).where(WebhookEvent.channel == channel, WebhookEvent.user_id == user_id,
                                              WebhookEvent.processed_at.is_(None), WebhookEvent.type == "message"))
        if isinstance(text := (payload.get("message") or {}).get("text"), str)]
    if not texts:
        return {}
    keyword_sets: list[tuple[tuple[str, ...], str]] = []
    enrolled = session.execute(
        sa.select(Enrollment.scenario_id, Enrollment.scenario_version).join(Friend, Friend.id == Enrollment.friend_id)
        .where(Friend.channel == channel, Friend.user_id == user_id, Enrollment.status == ENROLLMENT_ACTIVE)).all()
    for scenario_id, version in enrolled:
        for rule in definition_for(session, scenario_id, version).rules:
            if isinstance(rule.when, KeywordWhen):
                keyword_sets.append((tuple(rule.when.keyword), rule.when.match))
    for _, scn in live_scenarios(session, channel, "keyword"):
        if scn.start.keywords:
            keyword_sets.append((tuple(scn.start.keywords), scn.start.match))
    return matching.precompute_matches(keyword_sets, texts)


def process_friend_events(
    session: Session, channel: str, user_id: str, now: datetime, *, display_name: str | None = None
) -> ProcessResult:
    """Apply every pending event of one friend; each event is isolated in a savepoint."""
    friend = friend_state.lock_friend(session, channel, user_id)
    if display_name:
        friend.display_name = display_name
    result = ProcessResult()
    for event in pending_events(session, channel, user_id):
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
