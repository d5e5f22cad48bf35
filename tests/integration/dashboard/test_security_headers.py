"""Security headers on every dashboard page and the session cookie's flags (SPEC §7, §12)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from app.config import load_settings
from tests.conftest import ADMIN_PASSWORD, build_app
from tests.integration.dashboard.conftest import csrf_token


@pytest.mark.parametrize("path", ["/admin/login", "/admin", "/admin/scenarios", "/admin/friends"])
def test_dashboard_pages_carry_the_security_headers(admin: FlaskClient, path: str) -> None:
    response = admin.get(path)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert "'unsafe-inline'" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def _login_cookie(client: FlaskClient, **kwargs: object) -> str:
    client.get("/admin/login", **kwargs)
    response = client.post("/admin/login", data={"password": ADMIN_PASSWORD, "csrf_token": csrf_token(client)},
                           **kwargs)
    assert response.status_code == 302
    return response.headers["Set-Cookie"]


def test_session_cookie_is_httponly_lax_and_not_secure_over_plain_http(client: FlaskClient) -> None:
    cookie = _login_cookie(client)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_on_an_https_request(client: FlaskClient) -> None:
    cookie = _login_cookie(client, base_url="https://localhost")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_forwarded_https_makes_the_cookie_secure_only_behind_a_trusted_proxy(env: dict[str, str]) -> None:
    forwarded = {"headers": {"X-Forwarded-Proto": "https"}}
    untrusting = build_app(load_settings(env, testing=True)).test_client()
    assert "Secure" not in _login_cookie(untrusting, **forwarded)
    behind_proxy = build_app(load_settings({**env, "TRUSTED_PROXIES": "1"}, testing=True)).test_client()
    assert "Secure" in _login_cookie(behind_proxy, **forwarded)
