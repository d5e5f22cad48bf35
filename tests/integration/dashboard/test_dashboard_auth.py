"""Dashboard access: login, logout, bearer token, CSRF and cookie flags."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.conftest import ADMIN_TOKEN
from tests.integration.dashboard.conftest import csrf_token, login

PAGES = ["/admin", "/admin/scenarios", "/admin/deliveries?status=failed", "/admin/friends", "/admin/friends/1",
         "/admin/scenarios/welcome"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_redirects_to_login_when_not_logged_in(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")


def test_login_page_renders_japanese_ready_html(client: FlaskClient) -> None:
    body = client.get("/admin/login", headers={"Accept-Language": "ja,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="ja">' in body
    assert '<meta charset="utf-8">' in body
    assert 'name="csrf_token"' in body


def test_wrong_password_shows_an_error_and_no_session(client: FlaskClient) -> None:
    response = login(client, "not-the-password")
    assert response.status_code == 401
    assert "Wrong email or password" in response.get_data(as_text=True)
    assert client.get("/admin").status_code == 302


def test_right_password_logs_in_and_returns_to_the_page_asked_for(client: FlaskClient) -> None:
    client.get("/admin/login")
    response = client.post("/admin/login", data={"password": "test-admin-password", "csrf_token": csrf_token(client),
                                                 "next": "/admin/friends"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/friends"
    with client.session_transaction() as session:
        assert getattr(session, "login", None) == "admin"
    assert client.get("/admin/friends").status_code == 200


def test_login_never_redirects_to_another_site(client: FlaskClient) -> None:
    client.get("/admin/login")
    response = client.post("/admin/login", data={"password": "test-admin-password", "csrf_token": csrf_token(client),
                                                 "next": "//evil.example/admin"})
    assert response.headers["Location"] == "/admin"


def test_login_rotates_the_csrf_token(client: FlaskClient) -> None:
    client.get("/admin/login")
    before = csrf_token(client)
    client.post("/admin/login", data={"password": "test-admin-password", "csrf_token": before})
    assert csrf_token(client) != before


def test_session_cookie_is_httponly_and_samesite(client: FlaskClient) -> None:
    response = login(client)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP in tests


def test_session_cookie_is_secure_over_https(client: FlaskClient) -> None:
    client.get("/admin/login", base_url="https://localhost")
    response = client.post("/admin/login", base_url="https://localhost",
                           data={"password": "test-admin-password", "csrf_token": csrf_token(client)})
    assert "Secure" in response.headers["Set-Cookie"]


def test_logout_ends_the_session(admin: FlaskClient) -> None:
    response = admin.post("/admin/logout", data={"csrf_token": csrf_token(admin)})
    assert response.status_code == 302
    assert admin.get("/admin").status_code == 302


def test_bearer_token_opens_the_dashboard(client: FlaskClient) -> None:
    response = client.get("/admin/friends", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200


def test_wrong_bearer_token_is_sent_to_login(client: FlaskClient) -> None:
    response = client.get("/admin/friends", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 302


def test_post_without_csrf_token_is_forbidden(admin: FlaskClient) -> None:
    response = admin.post("/admin/scenarios/welcome/pause")
    assert response.status_code == 403
    assert "CSRF" in response.get_data(as_text=True)


def test_post_with_a_wrong_csrf_token_is_forbidden(admin: FlaskClient) -> None:
    response = admin.post("/admin/deliveries/1/retry", data={"csrf_token": "forged"})
    assert response.status_code == 403


def test_login_post_needs_the_csrf_token_too(client: FlaskClient) -> None:
    response = client.post("/admin/login", data={"password": "test-admin-password"})
    assert response.status_code == 403
    assert client.get("/admin").status_code == 302


def test_logout_without_csrf_token_is_forbidden(admin: FlaskClient) -> None:
    assert admin.post("/admin/logout").status_code == 403
    assert admin.get("/admin/friends").status_code == 200


def test_pages_send_a_strict_content_security_policy(admin: FlaskClient) -> None:
    response = admin.get("/admin/friends")
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none': no script at all
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_dashboard_session_reads_the_api_but_cannot_change_anything_without_the_token(admin: FlaskClient) -> None:
    assert admin.get("/admin/api/scenarios").status_code == 200
    # no CSRF token travels with API calls, so a session cookie alone must not publish or pause
    assert admin.post("/admin/api/scenarios/anything/pause").status_code == 401
    assert admin.put("/admin/api/scenarios/anything", data="id: anything").status_code == 401
