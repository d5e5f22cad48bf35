"""Measurement tests: the LINE simulator over HTTP, PUBLIC_URL set, the app and a worker's binding."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from app.config import Settings
from app.extensions import bind_services
from app.line.channels import line_client
from app.line.client import LineClient
from app.services.delivery import schedule_due
from linesim.testing import SimulatorHandle
from tests.factories import T0, empty_all_tables

PUBLIC_URL = "https://stepline.example"


@pytest.fixture()
def env(env: dict[str, str], sim: SimulatorHandle) -> dict[str, str]:
    return {**env, "LINE_API_BASE_URL": sim.base_url, "PUBLIC_URL": PUBLIC_URL}


@pytest.fixture()
def bound(settings: Settings) -> Iterator[Settings]:
    bind_services(settings)
    yield settings
    bind_services(settings)
    empty_all_tables()


@pytest.fixture()
def clients(bound: Settings) -> Callable[[str], LineClient]:
    return lambda channel: line_client(bound, channel)


def claim(now: object = T0) -> list[int]:
    """Run one scheduler tick; the delivery ids it handed to sender jobs."""
    jobs: list[list[int]] = []
    schedule_due(now, lambda ids: jobs.append(ids) or True)  # type: ignore[arg-type]
    return [i for job in jobs for i in job]
