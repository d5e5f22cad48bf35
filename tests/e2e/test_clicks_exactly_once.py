"""Tracked-link clicks against the real gunicorn web: answered with 302, buffered, and every one
recorded exactly once even when the web process is stopped right after answering (SPEC §10)."""

from __future__ import annotations

import http.client
import time

import sqlalchemy as sa

from app.config import normalize_database_url
from app.measure.links import LinkRef, LinkSigner
from bench.clicks import KEY, PUBLIC_URL, TARGET_URL, seed_sent_deliveries
from devstack.processes import Stack

CLICKS = 60


def _recorded(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        rows, distinct = connection.execute(
            sa.text("SELECT count(*), count(DISTINCT delivery_id) FROM link_clicks")).one()
    return int(rows), int(distinct)


def test_clicks_answered_just_before_a_graceful_stop_are_recorded_exactly_once(stack: Stack) -> None:
    stack.env.update({"PUBLIC_URL": PUBLIC_URL, "LINK_SIGNING_KEY": KEY})
    engine = sa.create_engine(normalize_database_url(stack.env["DATABASE_URL"]))
    ids, row = seed_sent_deliveries(engine, CLICKS)
    signer = LinkSigner(KEY)
    web = stack.start_web(workers=2, threads=4)
    connection = http.client.HTTPConnection("127.0.0.1", stack.web_port, timeout=10)
    for delivery_id in ids:  # one keep-alive connection, as a browser would
        connection.request("GET", f"/l/{signer.token(LinkRef(delivery_id, row, 0, 0), 'bench-clicks:1')}")
        answer = connection.getresponse()
        answer.read()
        assert (answer.status, answer.getheader("Location")) == (302, TARGET_URL)
    connection.close()
    web.stop()  # SIGTERM at once: what the buffers hold is written on the way out
    stack.start_scheduler()
    deadline = time.monotonic() + 30
    while _recorded(engine)[0] < CLICKS and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # one more drain: nothing may come twice
    assert _recorded(engine) == (CLICKS, CLICKS)
    engine.dispose()
