"""The owners' staff page (invite link or password, role, export, disable, tokens) and a dashboard
that hides what a role cannot do and answers 403 if asked anyway."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from app.services import staff as staff_service
from tests.integration.auth.conftest import PASSWORD, form_post, staff_login
from tests.integration.dashboard.conftest import VALID_SCENARIO, make_delivery, make_friend

LoggedIn = Callable[[str, str], FlaskClient]


def _invite_path(body: str) -> str:
    match = re.search(r"http://localhost(/admin/invite/[A-Za-z0-9_-]+)", body)
    assert match, body
    return match.group(1)


def test_an_invite_link_sets_the_password_once_then_the_account_logs_in(app: Flask, logged_in: LoggedIn) -> None:
    owner = logged_in("boss@example.com", "owner")
    created = form_post(owner, "/admin/staff", {"email": "new@example.com", "name": "新人", "role": "operator"})
    assert created.status_code == 201
    path = _invite_path(created.get_data(as_text=True))
    guest = app.test_client()
    assert "new@example.com" in guest.get(path).get_data(as_text=True)
    assert form_post(guest, path, {"new_password": PASSWORD, "confirm_password": PASSWORD}).status_code == 302
    assert guest.get(path).status_code == 404  # used up
    assert staff_login(app.test_client(), "new@example.com").status_code == 302


def test_an_owner_changes_a_role_and_the_change_applies_at_once(logged_in: LoggedIn) -> None:
    owner = logged_in("boss@example.com", "owner")
    member = logged_in("m@example.com", "viewer")
    assert form_post(member, "/admin/deliveries/1/retry").status_code == 403
    assert form_post(owner, "/admin/staff/m@example.com/role", {"role": "operator"}).status_code == 302
    assert form_post(member, "/admin/deliveries/1/retry").status_code == 302
    assert staff_service.get_staff("m@example.com").role == "operator"


def test_tokens_are_shown_once_listed_and_revoked_from_the_staff_page(app: Flask, logged_in: LoggedIn) -> None:
    owner = logged_in("boss@example.com", "owner")
    staff_service.create_staff("bot@example.com", "viewer")
    created = form_post(owner, "/admin/staff/bot@example.com/tokens", {"name": "grafana"})
    token = re.search(r'class="mono secret">([^<]+)<', created.get_data(as_text=True))
    assert token
    headers = {"Authorization": f"Bearer {token.group(1)}"}
    assert app.test_client().get("/admin/api/quota", headers=headers).status_code == 200
    listing = owner.get("/admin/staff").get_data(as_text=True)
    assert "grafana" in listing and token.group(1) not in listing
    assert form_post(owner, "/admin/staff/bot@example.com/tokens/grafana/revoke").status_code == 302
    assert app.test_client().get("/admin/api/quota", headers=headers).status_code == 401


def test_the_staff_page_is_for_owners_only(logged_in: LoggedIn) -> None:
    admin = logged_in("chief@example.com", "admin")
    assert admin.get("/admin/staff").status_code == 403
    assert form_post(admin, "/admin/staff", {"email": "x@example.com", "role": "owner"}).status_code == 403
    assert "/admin/staff" not in admin.get("/admin").get_data(as_text=True)


def test_a_viewer_sees_no_upload_form_lifecycle_or_retry_buttons(logged_in: LoggedIn) -> None:
    owner = logged_in("boss@example.com", "owner")
    form_post(owner, "/admin/scenarios/upload",
              {"source": VALID_SCENARIO, "source_name": "welcome.yaml", "confirm": "1"})
    make_delivery(make_friend())
    viewer = logged_in("eyes@example.com", "viewer")
    scenarios = viewer.get("/admin/scenarios").get_data(as_text=True)
    assert 'id="upload"' not in scenarios and "/pause" not in scenarios
    assert "/retry" not in viewer.get("/admin/deliveries").get_data(as_text=True)
    assert form_post(viewer, "/admin/scenarios/welcome/pause").status_code == 403
    assert form_post(viewer, "/admin/scenarios/upload", {"source": VALID_SCENARIO}).status_code == 403
    owner_view = owner.get("/admin/scenarios").get_data(as_text=True)
    assert 'id="upload"' in owner_view and "/pause" in owner_view
    assert "/retry" in owner.get("/admin/deliveries").get_data(as_text=True)


def test_an_operator_sees_retry_but_not_scenario_controls(logged_in: LoggedIn) -> None:
    make_delivery(make_friend())
    operator = logged_in("ops@example.com", "operator")
    assert "/retry" in operator.get("/admin/deliveries").get_data(as_text=True)
    assert 'id="upload"' not in operator.get("/admin/scenarios").get_data(as_text=True)


def test_a_weak_password_or_a_bad_email_is_refused_on_the_staff_page(logged_in: LoggedIn) -> None:
    owner = logged_in("boss@example.com", "owner")
    response = form_post(owner, "/admin/staff", {"email": "new@example.com", "role": "viewer", "password": "short"})
    assert response.status_code == 400
    assert form_post(owner, "/admin/staff", {"email": "not-an-email", "role": "viewer"}).status_code == 400


def test_an_owner_sets_a_password_and_the_members_sessions_end(app: Flask, logged_in: LoggedIn) -> None:
    owner = logged_in("boss@example.com", "owner")
    member = logged_in("m@example.com", "viewer")
    assert 'action="/admin/staff/m@example.com/password"' in owner.get("/admin/staff").get_data(as_text=True)
    new = "a brand new password"
    assert form_post(owner, "/admin/staff/m@example.com/password", {"password": new}).status_code == 302
    assert member.get("/admin/friends").status_code == 302
    assert staff_login(app.test_client(), "m@example.com", new).status_code == 302
