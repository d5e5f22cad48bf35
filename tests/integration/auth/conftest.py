"""Fixtures for staff, roles, sessions and audit: accounts made through the service, tokens per role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.services import staff as staff_service
from tests.integration.dashboard.conftest import csrf_token

PASSWORD = "correct horse battery"
ROLES = ("viewer", "operator", "admin", "owner")


def make_staff(email: str, role: str, password: str | None = PASSWORD) -> str:
    staff_service.create_staff(email, role, password)
    return email


def staff_login(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    client.get("/admin/login")
    return client.post("/admin/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)})


def form_post(client: FlaskClient, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """POST a dashboard form with the session's CSRF token."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client)}, **kwargs)


@pytest.fixture()
def role_tokens(app: Flask) -> dict[str, str]:
    """A bearer token for one staff member of each role (no passwords: tokens only)."""
    tokens = {}
    for role in ROLES:
        email = make_staff(f"{role}@example.com", role, password=None)
        tokens[role] = staff_service.create_token(email, f"{role}-ci")
    return tokens


@pytest.fixture()
def bearer(role_tokens: dict[str, str]) -> Callable[[str], dict[str, str]]:
    def headers(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {role_tokens[role]}"}

    return headers


@pytest.fixture()
def logged_in(app: Flask) -> Callable[[str, str], FlaskClient]:
    """A new client logged in as a new staff member with ``role``."""

    def _client(email: str, role: str) -> FlaskClient:
        make_staff(email, role)
        client = app.test_client()
        assert staff_login(client, email).status_code == 302
        return client

    return _client
