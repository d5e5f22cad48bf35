"""Fixtures for dashboard tests: a logged-in client, its CSRF token and row factories."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.admin.dashboard.csrf import CSRF_SESSION_KEY
from app.extensions import db
from app.models.base import utcnow
from app.models.delivery import Delivery, Enrollment
from app.models.friends import Friend, FriendTag
from app.quota.months import month_key
from tests.conftest import ADMIN_PASSWORD

VALID_SCENARIO = """\
id: welcome
name: ウェルカム
status: live
channel: default
timezone: Asia/Tokyo
start: {trigger: follow, from: followed_at}
steps:
  - id: thanks
    at: {after: 0s}
    messages:
      - text: "{display_name}さん、友だち追加ありがとうございます!"
  - id: tips
    at: {day: 1, time: "10:00"}
    messages:
      - text: "使い方のコツ"
"""

# line 11 asks for a variable that does not exist: the error names welcome.yaml:11
INVALID_SCENARIO = VALID_SCENARIO.replace("{display_name}さん", "{nickname}さん")


def csrf_token(client: FlaskClient) -> str:
    """The CSRF token of the client's session (a GET of any page creates it)."""
    with client.session_transaction() as session:
        token = session.get(CSRF_SESSION_KEY)
    assert token, "no CSRF token in the session yet"
    return str(token)


def login(client: FlaskClient, password: str = ADMIN_PASSWORD, email: str = "admin") -> Any:
    client.get("/admin/login")
    return client.post("/admin/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)})


@pytest.fixture()
def admin(client: FlaskClient) -> FlaskClient:
    """A client logged in to the dashboard."""
    response = login(client)
    assert response.status_code == 302
    return client


@pytest.fixture()
def post(admin: FlaskClient) -> Callable[..., Any]:
    """POST with the session's CSRF token added to the form."""

    def _post(path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        form = dict(data or {})
        form["csrf_token"] = csrf_token(admin)
        return admin.post(path, data=form, **kwargs)

    return _post


def make_friend(name: str = "山田太郎", *, user_id: str | None = None, status: str = "active",
                tags: tuple[str, ...] = (), attributes: dict[str, Any] | None = None, channel: str = "default") -> int:
    with db.transaction() as session:
        friend = Friend(channel=channel, user_id=user_id or "U" + uuid.uuid4().hex, display_name=name, status=status,
                        followed_at=utcnow() - timedelta(days=2), attributes=attributes or {})
        session.add(friend)
        session.flush()
        session.add_all(FriendTag(friend_id=friend.id, tag=tag) for tag in tags)
        return friend.id


def make_delivery(friend_id: int, *, status: str = "failed", error: str | None = "The property, 'to', in the "
                  "request body is invalid (line 1, column 7)", scenario_id: str = "welcome", step_id: str = "thanks",
                  attempts: int = 1, due_at: datetime | None = None, sent_at: datetime | None = None) -> int:
    with db.transaction() as session:
        delivery = Delivery(friend_id=friend_id, scenario_id=scenario_id, step_id=step_id, status=status,
                            retry_key=str(uuid.uuid4()), due_at=due_at or utcnow() - timedelta(hours=1),
                            attempts=attempts, error=error, sent_at=sent_at)
        session.add(delivery)
        session.flush()
        return delivery.id


def make_enrollment(friend_id: int, scenario_id: str, *, next_run_at: datetime | None = None) -> int:
    with db.transaction() as session:
        enrollment = Enrollment(friend_id=friend_id, scenario_id=scenario_id, start_at=utcnow(),
                                next_step_id="tips", next_run_at=next_run_at)
        session.add(enrollment)
        session.flush()
        return enrollment.id


def this_month(app: Flask) -> str:
    return month_key(datetime.now(UTC), app.extensions["stepline"].quota_timezone)
