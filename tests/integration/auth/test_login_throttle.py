"""Login throttling (SPEC §7): 5 failures per account or 20 per address within 15 minutes → 429 with
Retry-After, even with the right password, until the window has passed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.services import login_throttle
from tests.conftest import ADMIN_PASSWORD, build_app
from tests.integration.auth.conftest import PASSWORD, make_staff, staff_login
from tests.integration.dashboard.conftest import login


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    monkeypatch.setattr(login_throttle, "clock", fake)
    yield fake


def test_five_failures_lock_the_account_even_for_the_right_password(app: Flask, clock: Clock) -> None:
    make_staff("ops@example.com", "operator")
    client = app.test_client()
    for _ in range(5):
        assert staff_login(client, "ops@example.com", "wrong password!").status_code == 401
        clock.now += 10
    response = staff_login(client, "ops@example.com", PASSWORD)
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert client.get("/admin/friends").status_code == 302


def test_the_lock_lifts_when_the_window_has_passed(app: Flask, clock: Clock) -> None:
    make_staff("ops@example.com", "operator")
    client = app.test_client()
    for _ in range(5):
        staff_login(client, "ops@example.com", "wrong password!")
    retry_after = int(staff_login(client, "ops@example.com", PASSWORD).headers["Retry-After"])
    clock.now += retry_after - 5
    assert staff_login(client, "ops@example.com", PASSWORD).status_code == 429
    clock.now += 6
    assert staff_login(client, "ops@example.com", PASSWORD).status_code == 302


def test_four_failures_do_not_lock_and_a_success_starts_the_count_again(app: Flask, clock: Clock) -> None:
    make_staff("ops@example.com", "operator")
    client = app.test_client()
    for _ in range(4):
        staff_login(client, "ops@example.com", "wrong password!")
    assert staff_login(client, "ops@example.com", PASSWORD).status_code == 302
    for _ in range(4):
        assert staff_login(app.test_client(), "ops@example.com", "wrong password!").status_code == 401
    assert staff_login(app.test_client(), "ops@example.com", PASSWORD).status_code == 302


def test_the_builtin_admin_is_throttled_too(client: FlaskClient, clock: Clock) -> None:
    for _ in range(5):
        assert login(client, "not-the-password").status_code == 401
    response = login(client, ADMIN_PASSWORD)
    assert response.status_code == 429 and "Retry-After" in response.headers


def test_twenty_failures_from_one_address_lock_every_account_from_it(app: Flask, clock: Clock) -> None:
    make_staff("ops@example.com", "operator")
    client = app.test_client()
    for attempt in range(20):
        assert staff_login(client, f"guess{attempt}@example.com", "wrong password!").status_code == 401
    response = staff_login(client, "ops@example.com", PASSWORD)
    assert response.status_code == 429
    other_address = app.test_client()
    other_address.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert staff_login(other_address, "ops@example.com", PASSWORD).status_code == 302


def test_failures_older_than_fifteen_minutes_do_not_count(app: Flask, clock: Clock) -> None:
    make_staff("ops@example.com", "operator")
    client = app.test_client()
    for _ in range(4):
        staff_login(client, "ops@example.com", "wrong password!")
    clock.now += 15 * 60 + 1
    staff_login(client, "ops@example.com", "wrong password!")
    assert staff_login(client, "ops@example.com", PASSWORD).status_code == 302


def test_logins_are_refused_with_503_while_the_throttle_store_is_down(app: Flask, env: dict[str, str]) -> None:
    """No Redis to count failures: a clear 503 with Retry-After, never a 500 and never unthrottled guesses."""
    from app.config import load_settings

    redis_down = build_app(load_settings({**env, "REDIS_URL": "redis://127.0.0.1:9/0"}, testing=True))
    response = login(redis_down.test_client())
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "try again" in response.get_data(as_text=True)
