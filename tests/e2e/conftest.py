"""End-to-end fixtures: the Procfile processes for real, a private Redis and the LINE simulator.

Each test gets a fresh database (SQLite file, or a new PostgreSQL database when
``STEPLINE_TEST_DB=postgres``), its own redis-server (so tests can kill and restart it) and a
simulator subprocess; the bot talks to the simulator over real HTTP.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import RedisServer, Stack
from linesim.testing import SimulatorHandle, start_subprocess
from tests.conftest import new_database

SECRET = "e2e-channel-secret"
TOKEN = "e2e-token"
ADMIN_TOKEN = "e2e-admin-token"


@pytest.fixture()
def e2e_database(tmp_path: Path) -> Iterator[str]:
    with new_database(tmp_path, "e2e.db") as url:
        yield url


@pytest.fixture()
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture()
def simulator() -> Iterator[SimulatorHandle]:
    handle = start_subprocess(access_token=TOKEN, seed=7)
    yield handle
    handle.stop()


@pytest.fixture()
def stack(tmp_path: Path, e2e_database: str, private_redis: RedisServer, simulator: SimulatorHandle) -> Iterator[Stack]:
    """Configured and migrated, nothing running yet: each test starts what it needs."""
    stack = Stack.configure(tmp_path / "stack", database_url=e2e_database, redis_url=private_redis.url,
                            line_api_base_url=simulator.base_url, channel_secret=SECRET, access_token=TOKEN,
                            admin_token=ADMIN_TOKEN)
    stack.release()
    yield stack
    stack.stop()
    print(stack.logs())


def admin(stack: Stack, method: str, path: str, body: bytes | None = None,
          content_type: str = "application/yaml") -> tuple[int, Any]:
    """Call the admin API as an operator would (bearer token, real HTTP)."""
    import json

    request = urllib.request.Request(stack.base_url + path, data=body, method=method,
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_until(condition: Callable[[], bool], timeout: float, message: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s: {message}")
