"""Scenario integration tests run against the app's real database (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from app.scenarios import store as definitions


@pytest.fixture(autouse=True)
def _fresh_definition_cache(app: Flask) -> Iterator[None]:
    """Scenario ids are reused across tests while version numbers restart: start each test clean."""
    definitions.clear_cache()
    yield
    definitions.clear_cache()
