"""One signed webhook body in, one answer out: verify, parse, persist, hand off. Shared by the
Flask view and the WSGI fast path in front of it (:mod:`app.webhook.fast`), so both answer alike."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from app.config import Channel
from app.events.ledger import MalformedWebhook, parse_body
from app.line.signature import signature_is_valid
from app.models.base import utcnow
from app.services import webhook_intake

log = logging.getLogger("app.webhook.views")  # the name operators' log filters already use

Answer = tuple[int, dict[str, Any]]


def receive(channel: Channel, body: bytes, signature: str | None,
            hand_off: Callable[[list[tuple[str, str]]], object]) -> Answer:
    """The status and JSON answer for ``body`` sent to ``channel``'s webhook."""
    if not signature_is_valid(body, signature, channel.secret):
        log.warning("webhook for channel %s rejected: bad or missing signature", channel.name)
        return 400, {"error": "invalid signature"}
    try:
        events = parse_body(body)
    except MalformedWebhook as exc:
        log.warning("webhook for channel %s rejected: malformed body (%s)", channel.name, exc)
        return 400, {"error": "malformed webhook body", "details": [str(exc)]}
    if not events:
        return 200, {"status": "ok", "events": 0}  # LINE's connectivity check
    try:
        # shared with concurrent requests; 500 within LINE's 2 s when the database is locked or slow
        batch = webhook_intake.record_body(channel.name, events, utcnow(), hand_off)
    except (SQLAlchemyError, TimeoutError):
        log.exception("webhook for channel %s: database unavailable; LINE will redeliver", channel.name)
        return 500, {"error": "temporarily unavailable"}
    log.debug("webhook channel=%s stored=%d duplicates=%d", channel.name, batch.stored, batch.duplicates)
    return 200, {"status": "ok", "stored": batch.stored, "duplicates": batch.duplicates}
