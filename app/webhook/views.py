"""POST /callback[/<channel>]: verify, persist, enqueue, answer — well inside LINE's 2 s deadline."""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from app import current_settings
from app.config import DEFAULT_CHANNEL
from app.extensions import db
from app.line.signature import signature_is_valid
from app.models.base import utcnow
from app.services.ledger import MalformedWebhook, parse_events, record_events
from workers import jobs

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)


DRAIN_LIMIT = 16 * 1024 * 1024  # read and drop an oversized body up to this size before answering 413
DRAIN_CHUNK = 64 * 1024


def _discard_body(declared: int) -> None:
    """Read an oversized body to the end so the sender receives the 413 instead of a reset.

    Answering before the body is read makes the server close a socket the client is still
    writing to, and the client sees a broken pipe rather than "too large". Bodies beyond
    ``DRAIN_LIMIT`` are not worth reading: those connections are simply closed.
    """
    if declared > DRAIN_LIMIT:
        return
    stream = request.environ["wsgi.input"]
    left = declared
    while left > 0:
        chunk = stream.read(min(DRAIN_CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)


@bp.post("/callback")
@bp.post("/callback/<channel_name>")
def callback(channel_name: str = DEFAULT_CHANNEL) -> tuple[Response, int]:
    """Receive one webhook body from LINE for ``channel_name``."""
    channel = current_settings().channel(channel_name)
    if channel is None:
        abort(404, description=f"unknown channel {channel_name!r}")
    if request.content_length is not None and request.content_length > current_settings().max_body_bytes:
        _discard_body(request.content_length)
        abort(413)
    body = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH, even when chunked
    if not signature_is_valid(body, request.headers.get("X-Line-Signature"), channel.secret):
        log.warning("webhook for channel %s rejected: bad or missing signature", channel.name)
        return jsonify(error="invalid signature"), 400
    try:
        events = parse_events(json.loads(body))
    except (ValueError, MalformedWebhook) as exc:
        log.warning("webhook for channel %s rejected: malformed body (%s)", channel.name, exc)
        return jsonify(error="malformed webhook body", details=[str(exc)]), 400
    if not events:
        return jsonify(status="ok", events=0), 200  # LINE's connectivity check
    try:
        with db.engine.begin() as connection:
            batch = record_events(connection, channel.name, events, utcnow())
    except SQLAlchemyError:
        log.exception("webhook for channel %s: database unavailable; LINE will redeliver", channel.name)
        return jsonify(error="temporarily unavailable"), 500
    jobs.signal_friends([(channel.name, user_id) for user_id in sorted(batch.friends)])
    log.debug("webhook channel=%s stored=%d duplicates=%d", channel.name, batch.stored, batch.duplicates)
    return jsonify(status="ok", stored=batch.stored, duplicates=batch.duplicates), 200
