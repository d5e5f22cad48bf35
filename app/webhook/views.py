"""POST /callback[/<channel>]: verify, persist, enqueue, answer — well inside LINE's 2 s deadline.

An ordinary webhook (known channel, Content-Length, no query string) is answered by the fast path
in front of Flask (:mod:`app.webhook.fast`); this view answers the rest (a chunked body, one past
the size limit, a query string) with the same :func:`app.webhook.receive.receive`."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request

from app.config import DEFAULT_CHANNEL
from app.current import current_settings
from app.webhook.receive import receive
from app.work import current_work

bp = Blueprint("webhook", __name__)


@bp.post("/callback")
@bp.post("/callback/<channel_name>")
def callback(channel_name: str = DEFAULT_CHANNEL) -> tuple[Response, int]:
    """Receive one webhook body from LINE for ``channel_name``."""
    channel = current_settings().channel(channel_name)
    if channel is None:
        abort(404, description=f"unknown channel {channel_name!r}")
    body = request.get_data(cache=False)  # 413 past MAX_CONTENT_LENGTH, chunked too (app/body_limit.py)
    status, answer = receive(channel, body, request.headers.get("X-Line-Signature"), current_work().signal_friends)
    return jsonify(answer), status
