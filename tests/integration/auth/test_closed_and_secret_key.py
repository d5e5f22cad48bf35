"""Closed means closed (no credential configured → 503 everywhere) and a session key that is never
derived from a password or a token (SPEC §7)."""

from __future__ import annotations

import hashlib
import multiprocessing
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient

from app.config import load_settings
from app.extensions import bind_services
from app.secret_key import instance_secret_key
from app.services import staff as staff_service
from tests.conftest import ADMIN_PASSWORD, ADMIN_TOKEN, build_app
from tests.factories import empty_all_tables


@pytest.fixture()
def closed_app(env: dict[str, str]) -> Iterator[Flask]:
    """Stepline with neither ADMIN_PASSWORD nor ADMIN_TOKEN, and (so far) no staff."""
    settings = load_settings({k: v for k, v in env.items() if k not in {"ADMIN_PASSWORD", "ADMIN_TOKEN"}},
                             testing=True)
    application = build_app(settings)
    yield application
    bind_services(settings)
    empty_all_tables()


def _forged_cookie(app: Flask, data: dict[str, object]) -> str:
    """A Flask cookie session signed with the app's key (what an attacker who knew the key sends)."""
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    return str(serializer.dumps(data))


def _admin_paths(app: Flask) -> list[str]:
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin"):
            paths.append(rule.rule.replace("<int:delivery_id>", "1").replace("<int:friend_id>", "1")
                         .replace("<path:filename>", "dashboard.css").split("<")[0].rstrip("/") or "/admin")
    return sorted(set(paths))


def test_with_no_credential_every_admin_route_answers_503_whatever_is_sent(closed_app: Flask) -> None:
    client = closed_app.test_client()
    client.set_cookie("session", _forged_cookie(closed_app, {"admin_logged_in": True}))
    paths = _admin_paths(closed_app)
    assert "/admin/login" in paths and "/admin/api/scenarios" in paths and "/admin" in paths
    for path in paths:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {ADMIN_TOKEN}"}):
            assert client.get(path, headers=headers).status_code == 503, path
            assert client.post(path, headers=headers, data={"password": ""}).status_code == 503, path
    assert client.get("/admin/api/scenarios").get_json()["error"] == "admin is closed"


def test_a_staff_account_opens_the_login_page(closed_app: Flask) -> None:
    client = closed_app.test_client()
    assert client.get("/admin/login").status_code == 503
    staff_service.create_staff("owner@example.com", "owner", "correct horse battery")
    assert client.get("/admin/login").status_code == 200
    assert client.get("/admin/api/scenarios").status_code == 401


def test_a_disabled_staff_account_does_not_open_it(closed_app: Flask) -> None:
    staff_service.create_staff("owner@example.com", "owner", "correct horse battery")
    staff_service.set_enabled("owner@example.com", False)
    assert closed_app.test_client().get("/admin/login").status_code == 503


def test_a_cookie_signed_with_the_old_password_derived_key_opens_nothing(env: dict[str, str], tmp_path: Path) -> None:
    """The key used to be sha256(constant + ADMIN_PASSWORD + ADMIN_TOKEN): anyone who guessed the
    password could forge a session offline. Now the key is random and sessions are server-side."""
    env = {k: v for k, v in env.items() if k != "SECRET_KEY"} | {"STEPLINE_INSTANCE_PATH": str(tmp_path)}
    app = build_app(load_settings(env, testing=True))
    old_key = hashlib.sha256(b"stepline-session-key\x1f" + f"{ADMIN_PASSWORD}\x1f{ADMIN_TOKEN}".encode()).hexdigest()
    assert app.secret_key != old_key
    forger = Flask("forger")
    forger.secret_key = old_key
    client = app.test_client()
    client.set_cookie("session", _forged_cookie(forger, {"admin_logged_in": True, "csrf_token": "x"}))
    assert client.get("/admin").status_code == 302
    assert client.post("/admin/api/scenarios/welcome/pause").status_code == 401


def test_a_cookie_signed_with_the_real_key_opens_nothing_either(app: Flask, client: FlaskClient) -> None:
    """Only a random id travels in the cookie: even the app's own key cannot mint a session."""
    client.set_cookie("session", _forged_cookie(app, {"admin_logged_in": True}))
    assert client.get("/admin").status_code == 302


def test_without_secret_key_the_instance_key_is_random_private_and_stable(env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    env = {k: v for k, v in env.items() if k != "SECRET_KEY"} | {"STEPLINE_INSTANCE_PATH": str(tmp_path)}
    first = build_app(load_settings(env, testing=True))
    second = build_app(load_settings(env, testing=True))
    other = build_app(load_settings(env | {"STEPLINE_INSTANCE_PATH": str(tmp_path / "other")}, testing=True))
    assert first.secret_key == second.secret_key != other.secret_key
    assert ADMIN_PASSWORD not in str(first.secret_key) and len(str(first.secret_key)) >= 32
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def _key_in_process(folder: str, results: multiprocessing.Queue[str]) -> None:  # type: ignore[type-arg]
    results.put(instance_secret_key(folder))


def test_concurrent_processes_agree_on_one_instance_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=_key_in_process, args=(str(tmp_path), results)) for _ in range(6)]
    for process in processes:
        process.start()
    keys = {results.get(timeout=60) for _ in processes}
    for process in processes:
        process.join(timeout=60)
    assert len(keys) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]  # no temporary file left behind
