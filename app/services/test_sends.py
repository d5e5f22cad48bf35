"""Test send: push one step (or every step, one after the other) of a scenario to test users now.

Test deliveries go through the same outbox and sender (fresh retry keys, quota, rate limit), are
marked ``is_test``, belong to no enrollment and never count in statistics. A test user the bot does
not know yet is stored as a ``test`` friend (with the name from their LINE profile, so
``{display_name}`` renders): audiences only take ``active`` friends, so a test send never adds one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.attempts import SendSummary
from app.dialect import insert_for
from app.errors import BadRequest, NotFound
from app.events import friend_state
from app.extensions import db
from app.models.base import utcnow
from app.models.delivery import DELIVERY_QUEUED, Delivery
from app.models.friends import FRIEND_TEST, Friend
from app.models.scenarios import Scenario
from app.scenarios.store import definition_for
from app.services.sending import ClientFor, send_batch

USER_ID = re.compile(r"U[0-9a-f]{32}")
MAX_TEST_USERS = 50


@dataclass
class SendTestResult:
    """Per step: the delivery ids written and what the sender did with them."""

    scenario_id: str
    steps: list[str] = field(default_factory=list)
    delivery_ids: list[list[int]] = field(default_factory=list)
    summary: SendSummary = field(default_factory=SendSummary)
    errors: list[str] = field(default_factory=list)  # why deliveries failed, once each

    def to_dict(self) -> dict[str, object]:
        return {"scenario_id": self.scenario_id, "steps": self.steps, "delivery_ids": self.delivery_ids,
                **self.summary.to_dict(), "errors": self.errors}


def _check_users(user_ids: Sequence[str]) -> list[str]:
    users = list(dict.fromkeys(user_ids))
    if not users or len(users) > MAX_TEST_USERS:
        raise BadRequest(f"expected 1 to {MAX_TEST_USERS} user ids", [{"path": "user_ids", "message": "size"}])
    bad = [u for u in users if not isinstance(u, str) or not USER_ID.fullmatch(u)]
    if bad:
        raise BadRequest("user ids must look like U followed by 32 hex digits",
                         [{"path": "user_ids", "message": f"invalid: {u!r}"} for u in bad])
    return users


def create_test_deliveries(session: Session, scenario_id: str, user_ids: Sequence[str], step_id: str | None,
                           now: datetime, names: dict[str, str] | None = None) -> SendTestResult:
    """Write queued ``is_test`` deliveries: one list of ids per step, in step order. ``names``
    (user id → LINE display name) fills the name of test users the bot does not know by name."""
    scenario = session.get(Scenario, scenario_id)
    if scenario is None:
        raise NotFound(f"scenario {scenario_id!r} does not exist")
    scn = definition_for(session, scenario.id, scenario.version)
    if step_id is not None and step_id not in {step.id for step in scn.steps}:
        raise BadRequest(f"scenario {scenario_id!r} has no step {step_id!r}",
                         [{"path": "step", "message": "expected one of: " + ", ".join(s.id for s in scn.steps)}])
    users = _check_users(user_ids)
    names = names or {}
    friend_state.insert_missing(session, scenario.channel, users, status=FRIEND_TEST, now=now, names=names)
    for user_id, name in names.items():
        session.execute(sa.update(Friend).where(Friend.channel == scenario.channel, Friend.user_id == user_id,
                                                Friend.display_name.is_(None)).values(display_name=name))
    friend_ids = list(session.scalars(sa.select(Friend.id).where(Friend.channel == scenario.channel,
                                                                 Friend.user_id.in_(users))))
    result = SendTestResult(scenario_id)
    for step in scn.steps:
        if step_id is not None and step.id != step_id:
            continue
        rows = [{"enrollment_id": None, "friend_id": f, "scenario_id": scenario.id,
                 "scenario_version": scenario.version, "step_id": step.id, "cycle": 0,
                 "channel": scenario.channel, "priority": scenario.priority, "retry_key": str(uuid.uuid4()),
                 "status": DELIVERY_QUEUED, "due_at": now, "created_at": now, "enqueued_at": now,
                 "attempts": 0, "quota_reserved": False, "is_test": True} for f in friend_ids]
        ids = list(session.scalars(insert_for(session)(Delivery).values(rows).returning(Delivery.id)))
        result.steps.append(step.id)
        result.delivery_ids.append(sorted(ids))
    return result


def send_test(client_for: ClientFor, scenario_id: str, user_ids: Sequence[str], step_id: str | None = None,
              now_fn: Callable[[], datetime] = utcnow) -> SendTestResult:
    """Write the test deliveries, then send them now, step after step (so they arrive in order)."""
    names = _missing_names(client_for, scenario_id, user_ids)
    with db.transaction() as session:
        result = create_test_deliveries(session, scenario_id, user_ids, step_id, now_fn(), names)
    total = result.summary
    for ids in result.delivery_ids:
        done = send_batch(client_for, ids, now_fn)
        for name, value in done.to_dict().items():
            setattr(total, name, getattr(total, name) + value)
    all_ids = [i for ids in result.delivery_ids for i in ids]
    if all_ids and (total.failed or total.retrying or total.held):
        with db.session() as session:
            reasons = session.scalars(sa.select(Delivery.error).where(Delivery.id.in_(all_ids),
                                                                      Delivery.error.is_not(None)))
            result.errors = list(dict.fromkeys(reason for reason in reasons if reason))
    return result


def _missing_names(client_for: ClientFor, scenario_id: str, user_ids: Sequence[str]) -> dict[str, str]:
    """LINE profile names of the test users the bot has no name for (best effort: none on error)."""
    with db.session() as session:
        scenario = session.get(Scenario, scenario_id)
        if scenario is None:
            return {}
        wanted = [u for u in dict.fromkeys(user_ids) if isinstance(u, str) and USER_ID.fullmatch(u)]
        named = set(session.scalars(sa.select(Friend.user_id).where(
            Friend.channel == scenario.channel, Friend.user_id.in_(wanted), Friend.display_name.is_not(None))))
        channel = scenario.channel
    unnamed = [u for u in wanted if u not in named][:MAX_TEST_USERS]
    if not unnamed:
        return {}
    try:
        client = client_for(channel)
    except KeyError:
        return {}  # the send itself reports the unconfigured channel
    names = {}
    for user_id in unnamed:
        profile = client.profile(user_id) or {}
        name = profile.get("displayName")
        if isinstance(name, str) and name:
            names[user_id] = name[:200]
    return names
