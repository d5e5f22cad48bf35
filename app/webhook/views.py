"""POST /callback[/<channel>]: verify, persist, enqueue, answer — well inside LINE's 2 s deadline."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from app.config import DEFAULT_CHANNEL
from app.current import current_settings
from app.events.ledger import MalformedWebhook, parse_body
from app.line.signature import signature_is_valid
from app.models.base import utcnow
from app.services import webhook_intake
from app.work import current_work

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)


@bp.post("/callback")
@bp.post("/callback/<channel_name>")
def callback(channel_name: str = DEFAULT_CHANNEL) -> tuple[Response, int]:
    """Receive one webhook body from LINE for ``channel_name``."""
    channel = current_settings().channel(channel_name)
    if channel is None:
        abort(404, description=f"unknown channel {channel_name!r}")
    body = request.get_data(cache=False)  # 413 past MAX_CONTENT_LENGTH, chunked too (app/body_limit.py)
    if not signature_is_valid(body, request.headers.get("X-Line-Signature"), channel.secret):
        log.warning("webhook for channel %s rejected: bad or missing signature", channel.name)
        return jsonify(error="invalid signature"), 400
    try:
        events = parse_body(body)
    except MalformedWebhook as exc:
        log.warning("webhook for channel %s rejected: malformed body (%s)", channel.name, exc)
        return jsonify(error="malformed webhook body", details=[str(exc)]), 400
    if not events:
        return jsonify(status="ok", events=0), 200  # LINE's connectivity check
    try:
        # shared with concurrent requests; 500 within LINE's 2 s when the database is locked or slow
        batch = webhook_intake.record_body(channel.name, events, utcnow(), current_work().signal_friends)
    except (SQLAlchemyError, TimeoutError):
        log.exception("webhook for channel %s: database unavailable; LINE will redeliver", channel.name)
        return jsonify(error="temporarily unavailable"), 500
    log.debug("webhook channel=%s stored=%d duplicates=%d", channel.name, batch.stored, batch.duplicates)
    return jsonify(status="ok", stored=batch.stored, duplicates=batch.duplicates), 200
