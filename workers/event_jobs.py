"""RQ jobs for webhook events: friends in, idempotent, thin over app.services.events."""

from __future__ import annotations

import logging
import time

from app.line.channels import line_client
from app.models.base import utcnow
from app.services import events as event_service
from workers import conversation_jobs, event_signals
from workers.runtime import boot

log = logging.getLogger(__name__)

DRAIN_TURN_S = 0.1  # then the shard goes to the back of the queue: one busy shard never starves the others


def process_friend_events(channel: str, user_id: str) -> int:
    """Handle every pending event of one friend; running it twice does nothing the second time."""
    settings = boot()
    return event_service.handle_pending(channel, user_id, utcnow, line=lambda: line_client(settings, channel),
                                        notify_staff=conversation_jobs.enqueue_notice,
                                        link_rich_menus=conversation_jobs.link_rich_menus)


def drain_friend_events(shard: int, turn_s: float | None = None) -> int:
    """Process the friends signalled on ``shard``, a batch at a time. After each turn of ``turn_s``
    (default :data:`DRAIN_TURN_S`), if other event jobs wait (other shards' drains, with fewer
    workers than shards: one, as the Procfile runs), the friends still waiting go to a fresh job
    at the back of the queue, so every shard gets its turn under a steady stream of messages; with
    nobody waiting the drain goes on (an RQ job costs its worker ~2.5 ms of CPU). A friend failing
    is logged, the rest go on (the ledger keeps its events; the sweep retries)."""
    settings = boot()
    processed = 0
    turn = DRAIN_TURN_S if turn_s is None else turn_s
    turn_ends = time.monotonic() + turn
    while True:
        friends = event_signals.take_friends(shard)
        if friends:
            processed += event_service.handle_pending_friends(
                friends, utcnow, line=lambda channel: line_client(settings, channel),
                notify_staff=conversation_jobs.enqueue_notice, link_rich_menus=conversation_jobs.link_rich_menus)
            if time.monotonic() >= turn_ends:
                if event_signals.others_waiting():
                    event_signals.pass_on(shard, drain_friend_events)
                    return processed
                event_signals.hold(shard)
                turn_ends = time.monotonic() + turn
        elif not event_signals.finish_drain(shard):
            return processed


def signal_friends(friends: list[tuple[str, str]]) -> bool:
    """Entry point for the webhook and the sweep: queue these friends' pending events."""
    return event_signals.signal_friends(friends, drain_friend_events)
