"""Scenario documents, friends and upload shortcuts for the scenario integration tests."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import yaml

from app.extensions import db
from app.models.delivery import Enrollment
from app.models.friends import Friend
from app.models.scenarios import Scenario
from app.services import scenarios as service
from app.services.scenario_upload import UploadResult
from tests.factories import T0, store_friend, stored, stored_all

__all__ = ["T0", "bulk_friends", "doc", "enrollments", "friend", "load", "scenario_row", "store_friend", "text_of"]


def doc(scenario_id: str = "welcome", **overrides: Any) -> dict[str, Any]:
    """A live follow scenario counted from followed_at: steps at 0 s, 1 h and 1 d (UTC zone)."""
    document: dict[str, Any] = {
        "id": scenario_id, "name": f"{scenario_id} series", "status": "live", "timezone": "UTC",
        "start": {"trigger": "follow", "from": "followed_at"},
        "steps": [
            {"id": "hello", "at": {"after": "0s"}, "messages": [{"text": "hello {display_name}"}]},
            {"id": "tips", "at": {"after": "1h"}, "messages": [{"text": "tips"}]},
            {"id": "offer", "at": {"after": "1d"}, "messages": [{"text": "offer"}]},
        ],
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(document.get(key), dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    return document


def text_of(document: dict[str, Any]) -> str:
    return yaml.safe_dump(copy.deepcopy(document), allow_unicode=True, sort_keys=False)


def load(*documents: dict[str, Any], now: datetime = T0) -> UploadResult:
    """Upload documents as YAML files (one upload: one transaction)."""
    return service.upload([(f"{d['id']}.yaml", text_of(d)) for d in documents], now)


def friend(session: Any, user_id: str, channel: str = "default") -> Friend:
    return session.scalars(sa.select(Friend).where(Friend.channel == channel, Friend.user_id == user_id)).one()


def enrollments(scenario_id: str | None = None) -> list[Enrollment]:
    """Every enrollment (of one scenario), oldest first."""
    return stored_all(Enrollment, **({} if scenario_id is None else {"scenario_id": scenario_id}))


def scenario_row(scenario_id: str) -> Scenario:
    return stored(Scenario, scenario_id)


def bulk_friends(count: int, *, prefix: str = "U", channel: str = "default",
                 attributes: Any = None, **fields: Any) -> None:
    """``count`` friends in one statement; ``attributes(i)`` gives friend i's attributes."""
    rows = [{"channel": channel, "user_id": f"{prefix}{i:06d}", "status": "active", "opted_out": False,
             "attributes": attributes(i) if attributes else {}, "followed_at": T0, "created_at": T0,
             "updated_at": T0, **fields} for i in range(count)]
    with db.transaction() as session:
        session.execute(sa.insert(Friend), rows)
