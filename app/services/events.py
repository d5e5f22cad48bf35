"""A friend's pending ledger events, processed in timestamp order: the job's use case.

Reads first (profile need, regex matches: no write lock held while a friend's text is matched),
then one write transaction for every event, then what must wait for the commit: replies with
the events' tokens, staff notices, rich menu links.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.conversations import log as conversation_log
from app.conversations.handoffs import waiting_friends
from app.delivery import enrollment, friend_reads
from app.delivery.blocking import stop_for_block
from app.delivery.rules import Effects, on_incoming
from app.events import friend_state, ledger, pending
from app.extensions import db
from app.line.client import LineClient
from app.models.events import EVENT_FAILED, WebhookEvent
from app.models.friends import Friend
from app.scenarios.matching import using_precomputed
from app.services import routes

log = logging.getLogger(__name__)

FriendKey = pending.FriendKey
BATCH_EVENTS = 50  # events in one write transaction: fewer commits, yet a friend's lock is held briefly
INCOMING_TYPES = ("message", "postback")  # the events rules answer
LINE_CALLS_AT_ONCE = 8  # replies (and profiles) of different friends sent together after a commit


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
    settled: list[int] = field(default_factory=list)  # ids of the processed events, still to mark
    replies: list[PendingReply] = field(default_factory=list)
    effects: Effects = field(default_factory=Effects)  # rich menu links and handoffs to tell LINE / staff about


def handle_pending(channel: str, user_id: str, clock: Callable[[], datetime], *, line: Callable[[], LineClient],
                   notify_staff: Callable[[int], object],
                   link_rich_menus: Callable[[str, str, list[str]], None]) -> int:
    """Process every pending event of one friend; running it twice does nothing the second time.
    How many events were processed."""
    return _handle_chunk([(channel, user_id)], clock, line=lambda _channel: line(), notify_staff=notify_staff,
                         link_rich_menus=link_rich_menus)


def handle_pending_friends(friends: Sequence[FriendKey], clock: Callable[[], datetime], *,
                           line: Callable[[str], LineClient], notify_staff: Callable[[int], object],
                           link_rich_menus: Callable[[str, str, list[str]], None]) -> int:
    """:func:`handle_pending` for a drain's friends: one read transaction for them all, then write
    transactions of up to ``BATCH_EVENTS`` events (a friend's events never split), each committed
    before its replies go out, several friends' replies at once. A batch that fails is retried one
    friend at a time, so one friend's failure never holds back the others (the sweep retries it)."""
    friends = sorted(dict.fromkeys(friends))  # one lock order for every batch
    if not friends:
        return 0
    with db.read() as session:
        ahead = pending.read_ahead(session, friends)
    processed = 0
    for chunk in _chunks(friends, ahead.pending):
        try:
            processed += _handle_chunk(chunk, clock, line=line, notify_staff=notify_staff,
                                       link_rich_menus=link_rich_menus, ahead=ahead)
            continue
        except Exception:  # noqa: BLE001 - nothing of the batch was committed; retried friend by friend
            if len(chunk) == 1:
                log.exception("events of %s/%s not processed; the sweep will retry", *chunk[0])
                continue
            log.warning("a batch of %d friends failed; processing them one at a time", len(chunk), exc_info=True)
        for friend in chunk:
            try:
                processed += _handle_chunk([friend], clock, line=line, notify_staff=notify_staff,
                                           link_rich_menus=link_rich_menus)
            except Exception:  # noqa: BLE001 - the ledger keeps the events; the sweep retries
                log.exception("events of %s/%s not processed; the sweep will retry", *friend)
    return processed


def _chunks(friends: list[FriendKey], pending_count: dict[FriendKey, int]) -> Iterator[list[FriendKey]]:
    """Friends in write batches of at most ``BATCH_EVENTS`` pending events (one friend's are never split)."""
    chunk: list[FriendKey] = []
    size = 0
    for friend in friends:
        weight = max(1, pending_count.get(friend, 0))
        if chunk and size + weight > BATCH_EVENTS:
            yield chunk
            chunk, size = [], 0
        chunk.append(friend)
        size += weight
    if chunk:
        yield chunk


def _handle_chunk(friends: list[FriendKey], clock: Callable[[], datetime], *, line: Callable[[str], LineClient],
                  notify_staff: Callable[[int], object], link_rich_menus: Callable[[str, str, list[str]], None],
                  ahead: pending.ReadAhead | None = None) -> int:
    if ahead is None:
        with db.read() as session:
            ahead = pending.read_ahead(session, friends)
    names = _display_names([f for f in ahead.wants_profile if f in set(friends)], line)
    with db.transaction() as session, using_precomputed(ahead.matches):
        now = clock()
        locked = {(channel, user_id): friend for channel, user_ids in pending.by_channel(friends).items()
                  for user_id, friend in friend_state.lock_friends(session, channel, user_ids, now).items()}
        events = pending.pending_events_of(session, friends)  # after the locks: what another worker left
        batch = _Batch(waiting=waiting_friends(session, [friend.id for friend in locked.values()]),
                       isolate=len(friends) == 1)
        _prefetch_for_messages(session, locked, events)
        results = [(key, _process(session, locked[key], events.get(key, []), now, display_name=names.get(key),
                                  batch=batch)) for key in friends]
        pending.mark_processed(session, [i for _, result in results for i in result.settled], now)
    _in_parallel([lambda key=key, result=result: _send_replies(line(key[0]), result.replies)  # type: ignore[misc]
                  for key, result in results if result.replies])
    for (channel, user_id), result in results:
        for handoff_id in result.effects.handoffs_opened:
            notify_staff(handoff_id)
        if result.effects.rich_menus:
            link_rich_menus(channel, user_id, result.effects.rich_menus)
    return sum(result.processed for _, result in results)


def _prefetch_for_messages(session: Session, locked: dict[FriendKey, Friend],
                           events: dict[FriendKey, list[WebhookEvent]]) -> None:
    """Read once what every message and postback of the batch looks up (its friend's enrollments,
    the steps sent to them in the reply window), so the batch's writes go out in one flush."""
    incoming = [(key, event.timestamp) for key, evs in events.items() for event in evs
                if event.type in INCOMING_TYPES and key in locked]
    if incoming:
        friend_reads.prefetch(session, [locked[key].id for key, _ in incoming],
                              min(at for _, at in incoming) - friend_reads.REPLY_WINDOW)


def _display_names(friends: list[FriendKey], line: Callable[[str], LineClient]) -> dict[FriendKey, str]:
    """The display names of friends whose follow is pending (best-effort: LINE may not answer)."""
    names: dict[FriendKey, str] = {}

    def fetch(friend: FriendKey) -> None:
        profile = line(friend[0]).profile(friend[1])  # None on any failure
        if name := (profile or {}).get("displayName"):
            names[friend] = name

    _in_parallel([lambda friend=friend: fetch(friend) for friend in friends])  # type: ignore[misc]
    return names


def _send_replies(client: LineClient, replies: list[PendingReply]) -> None:
    """One friend's replies, in their events' order."""
    for reply in replies:
        outcome = client.reply(reply.reply_token, reply.messages)
        # one line per failure; an accepted reply is in the chat log and the LINE call metrics
        log.log(logging.DEBUG if outcome.sent else logging.WARNING, "reply to event %s: %s", reply.event_id,
                outcome.outcome)


def _in_parallel(calls: list[Callable[[], None]]) -> None:
    """Run the calls (LINE requests of different friends) on the process's small pool; one alone
    runs here. Each call handles its own failures (the LINE client never raises)."""
    if len(calls) <= 1:
        for call in calls:
            call()
        return
    for future in [_pool().submit(call) for call in calls]:
        future.result()


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=LINE_CALLS_AT_ONCE, thread_name_prefix="stepline-replies")
    return _POOL


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
    result = _process(session, friend, pending.pending_events(session, channel, user_id), now,
                      display_name=display_name)
    pending.mark_processed(session, result.settled, now)
    return result


@dataclass
class _Batch:
    """What one write transaction knows about its friends: who has an open handoff (read once,
    kept up to date by the batch's own rules), and whether each event runs in a savepoint.

    A batch of several friends runs without savepoints (two round trips an event): an event that
    fails rolls the whole batch back, and :func:`handle_pending_friends` runs it again one friend
    at a time, isolated, so the bad event is marked failed and the others go through."""

    waiting: set[int] | None = None
    isolate: bool = True


def _process(session: Session, friend: Friend, events: list[WebhookEvent], now: datetime, *,
             display_name: str | None = None, batch: _Batch | None = None) -> ProcessResult:
    """Apply a locked friend's pending events, oldest first."""
    batch = batch or _Batch()
    if display_name:
        friend.display_name = display_name
    result = ProcessResult()
    for event in events:
        if not batch.isolate:
            _settle(result, event, _apply(session, friend, event, now, result.effects, batch))
            continue
        try:
            with session.begin_nested():
                reply = _apply(session, friend, event, now, result.effects, batch)
            _settle(result, event, reply)
        except Exception as exc:  # noqa: BLE001 - one bad event must not block the friend's others
            log.exception("event %s for friend %s failed", event.webhook_event_id, friend.id)
            event.status, event.error, event.processed_at = EVENT_FAILED, f"{type(exc).__name__}: {exc}", now
            result.failed += 1
    return result


def _settle(result: ProcessResult, event: WebhookEvent, reply: PendingReply | None) -> None:
    result.settled.append(event.id)  # marked processed with the batch's others (pending.mark_processed)
    result.processed += 1
    if reply:
        result.replies.append(reply)


def _apply(session: Session, friend: Friend, event: WebhookEvent, now: datetime,
           effects: Effects, batch: _Batch) -> PendingReply | None:
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
        return _on_incoming(session, friend, event, text=text, postback=None, now=now, effects=effects, batch=batch)
    if event.type == "postback":
        data = (payload.get("postback") or {}).get("data")
        return _on_incoming(session, friend, event, text=None, postback=data, now=now, effects=effects, batch=batch)
    return None


def _on_follow(session: Session, friend: Friend, event: WebhookEvent, change: friend_state.FollowChange,
               now: datetime) -> None:
    """Enroll into follow-triggered scenarios, or apply each scenario's ``on_refollow`` policy."""
    enrollment.on_follow(session, friend, at=event.timestamp, is_new=change.is_new, is_refollow=change.is_refollow,
                         now=now)
    routes.on_follow(session, friend, now)  # a friend-add route's login waiting for this follow (SPEC §10)


def _on_incoming(session: Session, friend: Friend, event: WebhookEvent, *, text: str | None,
                 postback: str | None, now: datetime, effects: Effects, batch: _Batch) -> PendingReply | None:
    """Log the message, run keyword / postback rules; a reply is answered with the event's token
    after the commit."""
    reply_token = event.payload.get("replyToken") if event.mode != "standby" else None
    logged = conversation_log.log_incoming(session, friend, event_type=event.type, payload=event.payload,
                                           event_id=event.id, at=event.timestamp, reply_token=reply_token)
    opened = len(effects.handoffs_opened)
    messages = on_incoming(session, friend, event_id=event.id, reply_token=reply_token, text=text,
                           postback=postback, at=event.timestamp, now=now, effects=effects, logged=logged,
                           waiting=None if batch.waiting is None else friend.id in batch.waiting)
    if batch.waiting is not None and len(effects.handoffs_opened) > opened:
        batch.waiting.add(friend.id)  # the friend's next events in this batch wait for staff too
    if messages and reply_token:
        return PendingReply(reply_token, messages, event.webhook_event_id)
    return None
