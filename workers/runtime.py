"""Process start-up for workers and the scheduler: settings, database and Redis bound once."""

from __future__ import annotations

import logging

from app import bind_services, bound_settings
from app.config import Settings, load_settings


def boot() -> Settings:
    """Settings of this process; reads the environment and binds handles only the first time.

    Jobs call this first: in a worker it binds from the environment, in tests (where the app
    is already bound) it keeps the test's settings.
    """
    current = bound_settings()
    if current is None:
        current = load_settings()
        bind_services(current)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return current
