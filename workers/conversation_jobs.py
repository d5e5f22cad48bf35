"""RQ jobs for conversations: operator messages, staff notices of handoffs, rich menu links."""

from __future__ import annotations

import logging

import urllib3
from rq import Retry

from app.models.base import utcnow
from app.services import conversations as service
from app.services import richmenus as richmenu_service
from workers.queues import DEFAULT, EVENTS, enqueue, get_queue
from workers.runtime import boot

log = logging.getLogger(__name__)

NOTICE_RETRY = Retry(max=3)  # then the sweep keeps trying (every SWEEP_SECONDS, up to NOTIFY_MAX_ATTEMPTS)
SWEEP_SECONDS = 10.0
_http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=3.0, read=10.0), retries=False)


def send_operator_message_job(message_id: int) -> str:
    """Send (or finish sending) one operator message; running it twice sends it once."""
    settings = boot()
    result = service.deliver(message_id, settings=settings, now=utcnow(), enqueue=lambda _id: None)
    return result.status  # a transient failure stays queued: the sweep retries it, same retry key


def enqueue_operator_message(message_id: int) -> bool:
    """Hand a message that met a transient error to the retry job (the sweep catches a lost one)."""
    return enqueue(DEFAULT, send_operator_message_job, message_id)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    return int(_http.request("POST", url, body=body, headers=headers).status)


def notify_staff_job(handoff_id: int) -> bool:
    """POST the handoff notice to STAFF_WEBHOOK_URL; raising makes RQ retry it."""
    settings = boot()
    return service.notify_staff(handoff_id, settings=settings, now=utcnow(), post=_post)


def enqueue_notice(handoff_id: int) -> bool:
    """After commit: tell staff about a new handoff (False when Redis is down: the sweep does it)."""
    try:
        get_queue(EVENTS).enqueue_call(notify_staff_job, args=(handoff_id,), retry=NOTICE_RETRY, result_ttl=0,
                                       failure_ttl=7 * 86400, timeout=60)
    except Exception:  # noqa: BLE001 - Redis down: the sweep finds the handoff unnotified
        log.warning("handoff %s notice not enqueued; the sweep will send it", handoff_id)
        return False
    return True


def link_rich_menus(channel: str, user_id: str, menu_ids: list[str]) -> None:
    """After commit: make LINE show the menus rules linked (best-effort; the last one wins)."""
    settings = boot()
    for menu_id in menu_ids:
        richmenu_service.link_on_line(settings, channel, user_id, menu_id)


def sweep_conversations() -> int:
    """Scheduler task: finish operator messages left queued, retry staff notices not delivered."""
    boot()
    return service.sweep(utcnow(), send=lambda message_id: enqueue(DEFAULT, send_operator_message_job, message_id),
                         notify=lambda handoff_id: enqueue(DEFAULT, notify_staff_job, handoff_id))


STEP_MENU_CHECKPOINT = "stepline:richmenus:steps-linked-until"
STEP_MENU_OVERLAP_S = 30  # a delivery committed a moment after its sent_at is still seen


def sweep_step_rich_menus() -> int:
    """Scheduler task: link the rich menus of steps sent since the last sweep (``rich_menu:`` on a step)."""
    from datetime import UTC, datetime, timedelta

    from app.extensions import redis_handle

    settings = boot()
    now = utcnow()
    raw = redis_handle.client.get(STEP_MENU_CHECKPOINT)
    since = (datetime.fromtimestamp(float(raw), UTC) if raw else now - timedelta(minutes=10)) \
        - timedelta(seconds=STEP_MENU_OVERLAP_S)
    linked = richmenu_service.link_sent_steps(settings, since, now)
    redis_handle.client.set(STEP_MENU_CHECKPOINT, str(now.timestamp()))
    return linked
