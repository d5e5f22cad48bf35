"""The bare baselines, served by the Procfile's own gunicorn command, so a ratio measures
Stepline's own work: ``app`` (bench/webhook.py) is a Flask app that answers 200 and does nothing
else; ``ok`` (bench/clicks.py) is a plain WSGI callable that answers ``200 OK`` with an empty body
to any request, the most gunicorn itself can serve on this machine."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

app = Flask(__name__)


@app.post("/callback")
def callback() -> tuple[str, int]:
    return '{"status":"ok"}', 200


_OK_HEADERS = [("Content-Length", "0")]


def ok(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", _OK_HEADERS)
    return [b""]
