"""Answer "413 too large" so the sender reads it, for every endpoint behind ``MAX_CONTENT_LENGTH``.

Werkzeug refuses an oversized body before reading it. If the server then answers and closes,
the client is still writing into a socket nobody reads and sees a broken pipe instead of the
413. Reading the rest of the body first (up to a cap) lets the answer arrive.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Flask, Request, Response, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge

DRAIN_LIMIT = 16 * 1024 * 1024  # beyond this, dropping the connection is cheaper than reading it
DRAIN_CHUNK = 64 * 1024


def discard_unread_body(req: Request) -> None:
    """Read and drop what is left of the request body (at most ``DRAIN_LIMIT`` bytes).

    Bounded by Content-Length when there is one (the raw input may not end at the body), else
    read to the end only where the server says the input is terminated (chunked bodies).
    """
    if req.content_length is not None:
        left = req.content_length
    elif req.environ.get("wsgi.input_terminated"):
        left = DRAIN_LIMIT
    else:
        return
    if left > DRAIN_LIMIT:
        return
    stream = req.environ["wsgi.input"]
    while left > 0:
        chunk = stream.read(min(DRAIN_CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)


def buffer_chunked_body(req: Request) -> None:
    """Read a chunked body (no Content-Length) whole, refusing it with 413 past the limit.

    Werkzeug stops reading such a body at ``MAX_CONTENT_LENGTH`` without an error, so a body of
    2 MiB would reach the view cut to its first MiB — and a signature over that prefix would
    verify. Reading one byte beyond the limit tells the two apart; the view then sees a body of
    known length.
    """
    limit = req.max_content_length
    environ = req.environ
    if limit is None or req.content_length is not None or not environ.get("wsgi.input_terminated"):
        return
    stream = environ["wsgi.input"]
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(DRAIN_CHUNK, limit + 1 - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    if size > limit:
        raise RequestEntityTooLarge()
    body = b"".join(parts)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


class BoundedJSONProvider(DefaultJSONProvider):
    """``request.get_json`` that turns JSON nested past Python's recursion limit into the usual
    "not JSON" answer (400) instead of an uncaught RecursionError (500)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        from app.limits import MAX_DOCUMENT_NESTING
        from app.line.webhook_body import check_storable

        try:
            data = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deep") from None
        check_storable(data, MAX_DOCUMENT_NESTING)  # a ValueError: deeper than 64, NUL, lone surrogate
        return data


def refuse_nul(req: Request) -> None:
    """A NUL in the path, the query string or a form field cannot name or say anything; PostgreSQL
    refuses it in text (an error deep in a query), so it is a 400 at the edge. JSON bodies are
    checked as they are parsed (:class:`BoundedJSONProvider`), CSV cells by the import."""
    from werkzeug.exceptions import BadRequest

    if "\x00" in req.path or any("\x00" in key or "\x00" in value for key, value in req.args.items(multi=True)):
        raise BadRequest("NUL in the URL")
    if req.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data") and \
            any("\x00" in key or "\x00" in value for key, value in req.form.items(multi=True)):
        raise BadRequest("NUL (U+0000) in a form field: remove it and send the form again")


def init_app(app: Flask) -> None:
    @app.before_request
    def _refuse_oversized_chunked_body() -> None:
        buffer_chunked_body(request)
        refuse_nul(request)

    @app.after_request
    def _drain_refused_body(response: Response) -> Response:
        if response.status_code == 413:
            discard_unread_body(request)
        return response
