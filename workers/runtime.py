"""Process start-up for workers and the scheduler: settings, database and Redis bound once."""

from __future__ import annotations

import gc
import logging

from app import logs
from app.config import Settings, bound_settings, load_settings
from app.extensions import bind_services


def boot() -> Settings:
    """Settings of this process; reads the environment and binds handles only the first time.

    Jobs call this first: in a worker it binds from the environment, in tests (where the app
    is already bound) it keeps the test's settings.
    """
    current = bound_settings()
    if current is None:
        current = load_settings()
        bind_services(current)
        logs.configure(logging.INFO)
        keep_collector_off_preloaded_objects()
    return current


def keep_collector_off_preloaded_objects() -> None:
    """Keep the cycle collector off the preloaded app: it is never garbage, yet every full collection
    walked all of it, and a send batch allocates enough rows to trigger several (~6 % of its CPU)."""
    gc.freeze()  # what is loaded now stays out of every collection
    gc.set_threshold(10_000, 10, 10)  # the young generation is collected every 10,000 net allocations, not 700
