"""The bare baseline for bench/webhook.py: a Flask app that answers 200 and does nothing else,
served by the Procfile's own gunicorn command, so the ratio measures Stepline's own work."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.post("/callback")
def callback() -> tuple[str, int]:
    return '{"status":"ok"}', 200
