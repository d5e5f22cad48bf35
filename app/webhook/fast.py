"""``POST /callback[/<channel>]`` answered in front of Flask, as :mod:`app.public.fastlinks` does
for tracked links: under LINE's bursts (a broadcast's replies) the webhook is the busiest route,
and Flask's request context, routing, session and hooks cost a third of the web process's CPU
per webhook beyond what the work itself needs.

Only the ordinary request is taken here: ``POST`` to a configured channel with a Content-Length
within ``max_body_bytes`` and no query string. Everything else (a chunked or oversized body, a
query string, an unknown channel, another method) goes on to Flask, whose view and hooks answer
it as before, so the size limits, the NUL check and the error pages stay in one place.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from app.config import DEFAULT_CHANNEL, Channel, Settings
from app.webhook.receive import receive

PATH = "/callback"
_STATUS = {200: "200 OK", 400: "400 BAD REQUEST", 500: "500 INTERNAL SERVER ERROR"}

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
log = logging.getLogger("app.webhook.views")


class WebhookFastPath:
    """WSGI middleware; ``hand_off`` gives the friends of stored events to the workers."""

    def __init__(self, app: WSGIApp, settings: Settings,
                 hand_off: Callable[[list[tuple[str, str]]], object] | None) -> None:
        self.app = app
        self.settings = settings
        self.hand_off = hand_off

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = self._ordinary_length(environ)
        channel = self._channel(environ.get("PATH_INFO", "")) if length is not None else None
        if channel is None or length is None or self.hand_off is None:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            status, answer = receive(channel, body, environ.get("HTTP_X_LINE_SIGNATURE"), self.hand_off)
        except Exception:  # noqa: BLE001 - as Flask would: log it, answer 500, keep the worker
            log.exception("webhook for channel %s failed", channel.name)
            status, answer = 500, {"error": "internal server error", "details": []}
        payload = (json.dumps(answer, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n").encode()
        start_response(_STATUS[status], [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    def _ordinary_length(self, environ: dict[str, Any]) -> int | None:
        """The body's length when this is a request the fast path answers, else None."""
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING") \
                or environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        raw = environ.get("CONTENT_LENGTH") or ""
        if not (raw.isascii() and raw.isdigit()):
            return None
        length = int(raw)
        return length if length <= self.settings.max_body_bytes else None

    def _channel(self, path: str) -> Channel | None:
        if path == PATH:
            return self.settings.channel(DEFAULT_CHANNEL)
        if path.startswith(PATH + "/") and "/" not in path[len(PATH) + 1:] and path[len(PATH) + 1:]:
            return self.settings.channel(path[len(PATH) + 1:])
        return None
