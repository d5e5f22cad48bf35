"""``flask --app wsgi staff ...`` (SPEC §7): accounts, roles, export grant, tokens shown once."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models.staff import StaffToken
from tests.integration.auth.conftest import PASSWORD, staff_login


def staff(app: Flask, *args: str, input: str | None = None) -> Any:
    return app.test_cli_runner().invoke(args=["staff", *args], input=input)


def test_create_reads_the_password_from_stdin_and_the_account_logs_in(app: Flask, client: FlaskClient) -> None:
    result = staff(app, "create", "Ops@Example.com", "--role", "operator", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert staff_login(client, "ops@example.com").status_code == 302


def test_create_with_password_stdin_and_list(app: Flask) -> None:
    assert staff(app, "create", "a@example.com", "--role", "admin", "--password-stdin", input=PASSWORD).exit_code == 0
    listed = staff(app, "list").output
    assert "a@example.com" in listed and "admin" in listed


def test_create_refuses_a_short_password_a_bad_role_and_a_duplicate(app: Flask) -> None:
    assert staff(app, "create", "a@example.com", "--role", "admin", "--password-stdin", input="short").exit_code == 1
    assert staff(app, "create", "a@example.com", "--role", "boss", "--password-stdin", input=PASSWORD).exit_code == 2
    assert staff(app, "create", "a@example.com", "--role", "admin", "--password-stdin", input=PASSWORD).exit_code == 0
    again = staff(app, "create", "a@example.com", "--role", "admin", "--password-stdin", input=PASSWORD)
    assert again.exit_code == 1 and "already exists" in again.output


def test_token_is_printed_once_stored_hashed_and_works_with_the_role(app: Flask, client: FlaskClient) -> None:
    staff(app, "create", "bot@example.com", "--role", "viewer", "--no-password")
    printed = staff(app, "token", "bot@example.com", "--name", "grafana")
    token = printed.output.strip()
    assert printed.exit_code == 0 and len(token) >= 22  # ≥ 128 bits, URL-safe base64
    with db.session() as session:
        stored = session.query(StaffToken).one()
    assert stored.token_hash != token and token not in stored.token_hash
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/admin/api/scenarios", headers=headers).status_code == 200
    assert client.post("/admin/api/scenarios/x/pause", headers=headers).status_code == 403
    listed = staff(app, "tokens", "bot@example.com").output
    assert "grafana" in listed and "last used never" not in listed  # the request above was recorded
    assert staff(app, "token", "bot@example.com", "--name", "grafana").exit_code == 1  # names are unique
    assert staff(app, "revoke-token", "bot@example.com", "grafana").exit_code == 0
    assert client.get("/admin/api/scenarios", headers=headers).status_code == 401


def test_set_role_changes_what_the_token_may_do(app: Flask, client: FlaskClient) -> None:
    staff(app, "create", "bot@example.com", "--role", "viewer", "--no-password")
    headers = {"Authorization": f"Bearer {staff(app, 'token', 'bot@example.com', '--name', 'ci').output.strip()}"}
    assert client.post("/admin/api/deliveries/99/retry", headers=headers).status_code == 403
    assert staff(app, "set-role", "bot@example.com", "operator").exit_code == 0
    assert client.post("/admin/api/deliveries/99/retry", headers=headers).status_code == 404


def test_export_is_granted_and_revoked_separately(app: Flask) -> None:
    staff(app, "create", "a@example.com", "--role", "viewer", "--no-password")
    assert staff(app, "grant", "a@example.com", "export").exit_code == 0
    assert "export" in staff(app, "list").output
    assert staff(app, "revoke", "a@example.com", "export").exit_code == 0
    assert "export" not in staff(app, "list").output
    assert staff(app, "grant", "a@example.com", "delete").exit_code == 2


def test_disable_ends_sessions_and_tokens(app: Flask) -> None:
    staff(app, "create", "a@example.com", "--role", "admin", "--password-stdin", input=PASSWORD)
    token = staff(app, "token", "a@example.com", "--name", "ci").output.strip()
    browser = app.test_client()
    staff_login(browser, "a@example.com")
    assert staff(app, "disable", "a@example.com").exit_code == 0
    assert browser.get("/admin/friends").status_code == 302
    headers = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/admin/api/scenarios", headers=headers).status_code == 401
    assert "DISABLED" in staff(app, "list").output


def test_unknown_accounts_are_an_error_not_a_crash(app: Flask) -> None:
    for args in (("set-role", "nobody@example.com", "admin"), ("disable", "nobody@example.com"),
                 ("token", "nobody@example.com", "--name", "x"), ("revoke-token", "nobody@example.com", "x")):
        result = staff(app, *args)
        assert result.exit_code == 1 and "no staff member" in result.output, args
