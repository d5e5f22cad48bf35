"""WSGI entry point for gunicorn and ``flask --app wsgi``: the app, handing its work to RQ."""

from app import create_app
from workers.port import RQWork

app = create_app(work=RQWork())
