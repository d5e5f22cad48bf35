"""Shared fixtures: a real database (SQLite or PostgreSQL), a real Redis, the app and its client.

Select the database with ``STEPLINE_TEST_DB=sqlite|postgres`` (CI runs both). PostgreSQL tests
use a fresh database created for the session; Redis uses a dedicated db index flushed per test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.config import Settings, load_settings
from app.extensions import bind_services, db
from app.migrate import upgrade_to_head
from linesim.testing import SimulatorHandle, run_simulator
from tests.factories import empty_all_tables
from workers.port import RQWork

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CHANNEL_SECRET = "test-channel-secret"
CHANNEL_TOKEN = "test-token"
ADMIN_TOKEN = "test-admin-token"
ADMIN_PASSWORD = "test-admin-password"


def _create_postgres_database() -> tuple[str, str]:
    name = f"stepline_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, name


def _drop_postgres_database(name: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def new_database(directory: Path, name: str = "stepline.db") -> Iterator[str]:
    """The URL of a new, empty database of the kind under test: a fresh PostgreSQL database
    (dropped on exit) or an SQLite file in ``directory``."""
    if os.environ.get("STEPLINE_TEST_DB", "sqlite") != "postgres":
        yield f"sqlite:///{directory / name}"
        return
    url, pg_name = _create_postgres_database()
    try:
        yield url
    finally:
        _drop_postgres_database(pg_name)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for the whole session (fresh PostgreSQL database or SQLite file)."""
    with new_database(Path(tmp_path_factory.mktemp("db"))) as url:
        upgrade_to_head(url)
        yield url
        db.dispose()


@pytest.fixture()
def redis_url() -> Iterator[str]:
    """A dedicated Redis db, empty at the start of each test."""
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    yield TEST_REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture()
def env(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment a deployed Stepline would get (SPEC §6 names)."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "LINE_CHANNEL_SECRET": CHANNEL_SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": CHANNEL_TOKEN,
        "LINE_CHANNEL_SHOP_SECRET": "shop-secret",
        "LINE_CHANNEL_SHOP_ACCESS_TOKEN": "shop-token",
        "LINE_API_BASE_URL": "http://127.0.0.1:9",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SECRET_KEY": "test-secret-key",
    }


@pytest.fixture()
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env, testing=True)


def build_app(settings: Settings) -> Flask:
    """The app as ``wsgi.py`` builds it: work goes to the RQ queues on the test Redis."""
    return create_app(settings, work=RQWork())


@pytest.fixture()
def app(settings: Settings) -> Iterator[Flask]:
    """The Flask app bound to the test database (emptied after the test) and Redis."""
    application = build_app(settings)
    yield application
    bind_services(settings)
    empty_all_tables()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="session")
def line_simulator() -> Iterator[SimulatorHandle]:
    """One LINE platform simulator (real HTTP, in a thread) for the whole session."""
    with run_simulator(tokens={"default": CHANNEL_TOKEN, "shop": "shop-token"}) as handle:
        yield handle


@pytest.fixture()
def sim(line_simulator: SimulatorHandle) -> Iterator[SimulatorHandle]:
    """The simulator reset to its start-up state (no faults, deliveries or blocked users) around a test."""
    line_simulator.reset()
    yield line_simulator
    line_simulator.reset()
