"""A LINE simulator (real HTTP) for the whole module; the app points its LINE client at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from app.config import Settings
from app.extensions import bind_services
from app.line.channels import line_client
from app.line.client import LineClient
from linesim.testing import SimulatorHandle
from tests.factories import empty_all_tables


@pytest.fixture()
def env(env: dict[str, str], sim: SimulatorHandle) -> dict[str, str]:
    # the "shop" channel's token is unknown to the simulator: LINE answers 401 (a rejection)
    return {**env, "LINE_API_BASE_URL": sim.base_url, "LINE_CHANNEL_SHOP_ACCESS_TOKEN": "revoked-token"}


@pytest.fixture()
def clients(bound: Settings) -> Callable[[str], LineClient]:
    """What the worker passes to ``send_batch``: the process-wide client per channel."""
    return lambda channel: line_client(bound, channel)


@pytest.fixture()
def bound(settings: Settings) -> Iterator[Settings]:
    """Database and Redis bound like a worker's ``boot()`` (no Flask app); tables emptied after."""
    bind_services(settings)
    yield settings
    bind_services(settings)
    empty_all_tables()
