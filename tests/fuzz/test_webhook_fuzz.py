"""Fuzzing the webhook edge: signed bodies of LINE's event shapes, right and wrong.

Properties: never a 500; a bad signature stores nothing; the ledger grows only by the new
events of a body answered 200; a body of valid shapes is always accepted.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from app.extensions import db
from app.models.events import WebhookEvent
from tests.conftest import CHANNEL_SECRET
from tests.fuzz.strategies import ANY_JSON, mutated_event, valid_event
from tests.support import webhooks as wh


def _count() -> int:
    with db.session() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)) or 0


def _post(client: FlaskClient, raw: bytes, secret: str = CHANNEL_SECRET):
    return client.post("/callback", data=raw, headers=wh.signed_headers(raw, secret))


def _body(events: list[Any]) -> bytes:
    return json.dumps({"destination": wh.DESTINATION, "events": events}, ensure_ascii=False).encode()


@given(events=st.lists(valid_event(), max_size=5))
def test_bodies_of_valid_shapes_are_stored_once_each(client: FlaskClient, events: list[dict[str, Any]]) -> None:
    before = _count()
    response = _post(client, _body(events))
    assert response.status_code == 200, response.data
    assert _count() == before + len({e["webhookEventId"] for e in events})


@given(events=st.lists(st.one_of(valid_event(), mutated_event()), min_size=1, max_size=4))
def test_any_signed_body_is_200_or_400_and_only_200_changes_the_ledger(client: FlaskClient,
                                                                        events: list[dict[str, Any]]) -> None:
    before = _count()
    response = _post(client, _body(events))
    assert response.status_code in (200, 400), response.data
    if response.status_code == 400:
        assert _count() == before
    else:
        assert _count() == before + response.get_json()["stored"]


@given(payload=ANY_JSON)
def test_any_signed_json_is_never_a_server_error(client: FlaskClient, payload: Any) -> None:
    before = _count()
    response = _post(client, json.dumps(payload).encode())
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert _count() == before


@given(raw=st.binary(max_size=300))
def test_any_signed_bytes_are_never_a_server_error(client: FlaskClient, raw: bytes) -> None:
    assert _post(client, raw).status_code in (200, 400)


@given(events=st.lists(valid_event(), min_size=1, max_size=3), secret=st.text(min_size=1, max_size=20))
def test_a_bad_signature_stores_nothing(client: FlaskClient, events: list[dict[str, Any]], secret: str) -> None:
    if secret == CHANNEL_SECRET:
        return
    before = _count()
    assert _post(client, _body(events), secret=secret).status_code == 400
    assert _count() == before
