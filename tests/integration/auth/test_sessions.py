"""Server-side sessions (SPEC §7): a random id in the cookie, revocable by logout, password change,
'log out everywhere' and disabling the account."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models.staff import StaffSession
from app.services import staff as staff_service
from tests.integration.auth.conftest import PASSWORD, form_post, make_staff, staff_login
from tests.integration.dashboard.conftest import login

NEW_PASSWORD = "another long password"


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _copy(app: Flask, client: FlaskClient) -> FlaskClient:
    """A second client holding a copy of ``client``'s cookie (what a thief would have)."""
    thief = app.test_client()
    thief.set_cookie("session", _cookie(client))
    return thief


def test_the_cookie_holds_only_a_random_id_whose_hash_is_stored(client: FlaskClient) -> None:
    assert login(client).status_code == 302
    value = _cookie(client)
    assert len(value) >= 40 and "." not in value  # no signed payload, just the id
    with db.session() as session:
        hashes = set(session.scalars(sa.select(StaffSession.id_hash).where(StaffSession.login == "admin")))
    assert hashes == {hashlib.sha256(value.encode()).hexdigest()}


def test_login_issues_a_new_session_id(client: FlaskClient) -> None:
    client.get("/admin/login")
    before = _cookie(client)
    login(client)
    assert _cookie(client) != before


def test_logout_ends_the_session_so_a_copied_cookie_is_refused(app: Flask, client: FlaskClient) -> None:
    login(client)
    thief = _copy(app, client)
    assert thief.get("/admin/friends").status_code == 200
    assert form_post(client, "/admin/logout").status_code == 302
    assert thief.get("/admin/friends").status_code == 302
    assert thief.get("/admin/api/scenarios").status_code == 401


def test_a_password_change_ends_the_other_sessions(app: Flask) -> None:
    make_staff("ops@example.com", "operator")
    laptop, phone = app.test_client(), app.test_client()
    staff_login(laptop, "ops@example.com")
    staff_login(phone, "ops@example.com")
    response = form_post(laptop, "/admin/account/password", {"current_password": PASSWORD,
                                                             "new_password": NEW_PASSWORD,
                                                             "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert laptop.get("/admin/friends").status_code == 200
    assert phone.get("/admin/friends").status_code == 302
    assert staff_login(app.test_client(), "ops@example.com", PASSWORD).status_code == 401
    assert staff_login(app.test_client(), "ops@example.com", NEW_PASSWORD).status_code == 302


def test_a_password_change_needs_the_current_password(app: Flask) -> None:
    make_staff("ops@example.com", "operator")
    client = app.test_client()
    staff_login(client, "ops@example.com")
    response = form_post(client, "/admin/account/password", {"current_password": "guess guess guess",
                                                             "new_password": NEW_PASSWORD,
                                                             "confirm_password": NEW_PASSWORD})
    assert response.status_code == 400
    assert staff_login(app.test_client(), "ops@example.com", PASSWORD).status_code == 302


def test_log_out_everywhere_ends_every_session_of_the_account(app: Flask) -> None:
    make_staff("ops@example.com", "operator")
    make_staff("other@example.com", "operator")
    laptop, phone, colleague = app.test_client(), app.test_client(), app.test_client()
    for client, email in ((laptop, "ops@example.com"), (phone, "ops@example.com"), (colleague, "other@example.com")):
        staff_login(client, email)
    thief = _copy(app, phone)
    assert form_post(laptop, "/admin/account/logout-everywhere").status_code == 302
    for client in (laptop, phone, thief):
        assert client.get("/admin/friends").status_code == 302
    assert colleague.get("/admin/friends").status_code == 200


def test_disabling_a_staff_member_ends_their_sessions_and_tokens_at_once(
        app: Flask, logged_in: Callable[[str, str], FlaskClient]) -> None:
    victim = logged_in("leaver@example.com", "admin")
    token = staff_service.create_token("leaver@example.com", "ci")
    owner = logged_in("boss@example.com", "owner")
    headers = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/admin/api/scenarios", headers=headers).status_code == 200
    assert form_post(owner, "/admin/staff/leaver@example.com/enabled", {"enabled": "0"}).status_code == 302
    assert victim.get("/admin/friends").status_code == 302
    assert app.test_client().get("/admin/api/scenarios", headers=headers).status_code == 401
    assert staff_login(app.test_client(), "leaver@example.com").status_code == 401
    staff_service.set_enabled("leaver@example.com", True)
    assert app.test_client().get("/admin/api/scenarios", headers=headers).status_code == 401  # tokens are gone


def test_a_disabled_account_is_refused_even_with_a_live_session_row(
        logged_in: Callable[[str, str], FlaskClient]) -> None:
    client = logged_in("ops@example.com", "operator")
    with db.transaction() as session:  # the account flag alone already refuses
        session.execute(sa.text("UPDATE staff SET enabled = :off WHERE email = 'ops@example.com'"), {"off": False})
    assert client.get("/admin/friends").status_code == 302


def test_admin_password_logs_in_as_the_builtin_owner(client: FlaskClient) -> None:
    assert login(client, email="admin").status_code == 302
    body = client.get("/admin/account").get_data(as_text=True)
    assert 'id="whoami">admin<' in body
    assert client.get("/admin/staff").status_code == 200


def test_staff_log_in_with_email_and_password(app: Flask) -> None:
    make_staff("Viewer@Example.com", "viewer")
    client = app.test_client()
    assert staff_login(client, "viewer@example.com").status_code == 302
    assert client.get("/admin/friends").status_code == 200
    assert client.get("/admin/staff").status_code == 403


def test_a_wrong_password_for_a_staff_member_is_refused(app: Flask) -> None:
    make_staff("ops@example.com", "operator")
    client = app.test_client()
    assert staff_login(client, "ops@example.com", "not the password").status_code == 401
    assert staff_login(client, "nobody@example.com", PASSWORD).status_code == 401
    assert client.get("/admin/friends").status_code == 302
