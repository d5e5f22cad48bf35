"""Conversations tests: the app (or bound services) talking to a real LINE simulator over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.config import Settings
from app.conversations import rulesets as ruleset_cache
from app.events.ledger import record_events
from app.extensions import bind_services, db
from app.models.friends import Friend
from app.services import events as event_service
from linesim.testing import SimulatorHandle
from tests.factories import T0, empty_all_tables
from tests.support.images import png  # noqa: F401 - re-exported for the tests here

USER = "U" + "a" * 32
OTHER = "U" + "b" * 32


@pytest.fixture()
def env(env: dict[str, str], sim: SimulatorHandle) -> dict[str, str]:
    return {**env, "LINE_API_BASE_URL": sim.base_url}


@pytest.fixture(autouse=True)
def _fresh_ruleset_cache() -> Iterator[None]:
    ruleset_cache.clear_cache()
    yield
    ruleset_cache.clear_cache()


@pytest.fixture()
def bound(settings: Settings) -> Iterator[Settings]:
    """Database and Redis bound like a worker's ``boot()``; tables emptied after."""
    bind_services(settings)
    ruleset_cache.clear_cache()
    yield settings
    bind_services(settings)
    empty_all_tables()
    ruleset_cache.clear_cache()


_seq = iter(range(1, 10**9))


def incoming(user_id: str, *, text: str | None = None, postback: str | None = None,
             at: Any = T0 + timedelta(minutes=5), token: str | None = "tok", now: Any = None,
             message: dict[str, Any] | None = None) -> event_service.ProcessResult:
    """Store one LINE message/postback event for ``user_id`` and process it like the worker does."""
    n = next(_seq)
    event: dict[str, Any] = {"mode": "active", "timestamp": int(at.timestamp() * 1000),
                             "webhookEventId": f"01CONV{n:020d}", "source": {"type": "user", "userId": user_id}}
    if token:
        event["replyToken"] = token
    if postback is not None:
        event.update(type="postback", postback={"data": postback})
    else:
        event.update(type="message", message=message or {"type": "text", "id": str(n), "text": text})
    with db.transaction() as session:
        record_events(session, "default", [event], at)
    with db.transaction() as session:
        return event_service.process_friend_events(session, "default", user_id, now or at)


def reply_texts(result: event_service.ProcessResult) -> list[str]:
    return [m.get("text", "") for r in result.replies for m in r.messages]


def friend_id(user_id: str) -> int:
    with db.session() as session:
        return int(session.scalar(sa.select(Friend.id).where(Friend.user_id == user_id)) or 0)
