"""RQ jobs for webhook events: ids in, idempotent, one transaction each."""

from __future__ import annotations

import logging

from app.extensions import db
from app.models.base import utcnow
from app.scenarios.matching import using_precomputed
from app.services import events as event_service
from app.services.line_edge import line_client
from workers import conversation_jobs, event_signals
from workers.runtime import boot

log = logging.getLogger(__name__)


def process_friend_events(channel: str, user_id: str) -> int:
    """Handle every pending event of one friend; running it twice does nothing the second time."""
    settings = boot()
    display_name = None
    with db.read() as session:  # no write lock: profile check and regex matching happen here
        wants_profile = event_service.needs_profile(session, channel, user_id)
        matches = event_service.precompute_keyword_matches(session, channel, user_id)
    if wants_profile:
        profile = line_client(settings, channel).profile(user_id)  # best-effort: None on any failure
        display_name = (profile or {}).get("displayName")
    with db.transaction() as session, using_precomputed(matches):
        result = event_service.process_friend_events(session, channel, user_id, utcnow(), display_name=display_name)
    for reply in result.replies:
        outcome = line_client(settings, channel).reply(reply.reply_token, reply.messages)
        log.info("reply to event %s: %s", reply.event_id, outcome.outcome)
    for handoff_id in result.effects.handoffs_opened:
        conversation_jobs.enqueue_notice(handoff_id)
    if result.effects.rich_menus:
        conversation_jobs.link_rich_menus(channel, user_id, result.effects.rich_menus)
    return result.processed


def drain_friend_events(shard: int) -> int:
    """Process every friend signalled on ``shard``; a friend failing is logged, the rest go on."""
    boot()
    processed = 0
    while True:
        friends = event_signals.take_friends(shard)
        for channel, user_id in friends:
            try:
                processed += process_friend_events(channel, user_id)
            except Exception:  # noqa: BLE001 - the ledger keeps the events; the sweep retries
                log.exception("events of %s/%s not processed; the sweep will retry", channel, user_id)
        if not friends and not event_signals.finish_drain(shard):
            return processed


def signal_friends(friends: list[tuple[str, str]]) -> bool:
    """Entry point for the webhook and the sweep: queue these friends' pending events."""
    return event_signals.signal_friends(friends, drain_friend_events)
