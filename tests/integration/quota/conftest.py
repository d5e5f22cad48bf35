"""Quota fixtures: database and Redis bound with a 5-message plan, and row factories."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.config import Settings
from app.extensions import bind_services, db
from app.metrics.recorder import resume_recording
from app.models import Base
from tests.integration.quota.quota_rows import Rows


@pytest.fixture()
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "LINE_QUOTA_PLAN": "5"}


@pytest.fixture()
def quota_app(settings: Settings) -> Iterator[Settings]:
    """Database and Redis bound as a worker binds them, with the plan limit at 5 messages a month."""
    bind_services(settings)
    resume_recording()
    yield settings
    bind_services(settings)
    with db.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())


@pytest.fixture()
def rows(quota_app: Settings) -> Rows:
    return Rows()
