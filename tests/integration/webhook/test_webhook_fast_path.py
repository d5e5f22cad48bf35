"""The webhook's fast path in front of Flask (app/webhook/fast.py): it takes the ordinary request,
hands every other one to Flask, and answers exactly as the Flask view does."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder

from app.config import Settings
from app.extensions import db
from app.webhook.fast import WebhookFastPath
from tests.conftest import CHANNEL_SECRET
from tests.support import webhooks as wh


class _Flask:
    """Stands for the app behind the fast path: records what reached it."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.seen.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        start_response("418 I'M A TEAPOT", [("Content-Length", "0")])
        return [b""]


def _call(middleware: WebhookFastPath, **request: Any) -> tuple[str, bytes]:
    statuses: list[str] = []
    chunks = middleware(EnvironBuilder(**request).get_environ(), lambda status, _headers: statuses.append(status))
    return statuses[0], b"".join(chunks)


def _signed(raw: bytes, secret: str = CHANNEL_SECRET) -> dict[str, Any]:
    return {"data": raw, "headers": wh.signed_headers(raw, secret)}


def test_the_ordinary_webhook_is_answered_without_reaching_flask(app: Flask, settings: Settings) -> None:
    behind = _Flask()
    fast = WebhookFastPath(behind, settings, lambda friends: True)
    status, body = _call(fast, path="/callback", method="POST", **_signed(wh.body(wh.follow("Ufast1"))))
    assert (status, json.loads(body)) == ("200 OK", {"status": "ok", "stored": 1, "duplicates": 0})
    shop = _signed(wh.body(wh.follow("Ufast2")), "shop-secret")
    status, _ = _call(fast, path="/callback/shop", method="POST", **shop)
    assert status == "200 OK"
    assert behind.seen == []


@pytest.mark.parametrize("request_", [
    {"path": "/callback", "method": "GET"},
    {"path": "/callback", "method": "POST", "query_string": "lang=ja"},
    {"path": "/callback/nobody", "method": "POST"},
    {"path": "/callback/", "method": "POST"},
    {"path": "/callback/shop/extra", "method": "POST"},
    {"path": "/callbacks", "method": "POST"},
    {"path": "/callback", "method": "POST", "headers": {"Transfer-Encoding": "chunked"}},
    {"path": "/callback", "method": "POST", "headers": {"Content-Length": "1048577"}},
    {"path": "/callback", "method": "POST", "headers": {"Content-Length": "１２"}},
], ids=["get", "query", "unknown-channel", "trailing-slash", "nested", "other-path", "chunked", "oversized",
        "odd-length"])
def test_every_other_request_goes_on_to_flask(app: Flask, settings: Settings, request_: dict[str, Any]) -> None:
    behind = _Flask()
    status, _ = _call(WebhookFastPath(behind, settings, lambda friends: True), **request_)
    assert status.startswith("418") and len(behind.seen) == 1


@pytest.mark.parametrize("raw, secret", [
    (wh.body(wh.follow("Uparity")), "wrong-secret"),
    (b'{"destination": "U", "events": [', CHANNEL_SECRET),
    (b'{"destination": "U", "events": "none"}', CHANNEL_SECRET),
    (wh.body(), CHANNEL_SECRET),
], ids=["bad-signature", "not-json", "events-not-a-list", "connectivity-check"])
def test_fast_path_and_flask_view_answer_alike(client: FlaskClient, raw: bytes, secret: str) -> None:
    fast = client.post("/callback", **_signed(raw, secret))
    view = client.post("/callback?via=flask", **_signed(raw, secret))  # a query string: Flask's view
    assert (fast.status_code, fast.get_json()) == (view.status_code, view.get_json())
    assert fast.headers["Content-Type"] == view.headers["Content-Type"] == "application/json"


def test_a_dropped_database_connection_answers_500_and_the_next_webhook_is_stored(
        client: FlaskClient, database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("a server connection to drop is PostgreSQL's")
    assert client.post("/callback", **_signed(wh.body(wh.follow("Udrop1")))).status_code == 200
    with db.engine.connect() as connection:  # the server ends every other session: the webhook's pooled one too
        connection.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    db.engine.dispose()  # the test's own engine starts afresh; the webhook's keeps its dropped connection
    dropped = client.post("/callback", **_signed(wh.body(wh.follow("Udrop2"))))
    assert (dropped.status_code, dropped.get_json()) == (500, {"error": "temporarily unavailable"})
    again = client.post("/callback", **_signed(wh.body(wh.follow("Udrop2"))))
    assert (again.status_code, again.get_json()["stored"]) == (200, 1)
    with db.engine.connect() as connection:
        users = connection.execute(sa.text("SELECT user_id FROM webhook_events ORDER BY id")).scalars().all()
    assert users == ["Udrop1", "Udrop2"]
