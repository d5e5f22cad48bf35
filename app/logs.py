"""One log format for every process: UTC timestamps, labelled as such (servers run in any zone)."""

from __future__ import annotations

import logging
import time

LOG_FORMAT = "%(asctime)s UTC %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class UtcFormatter(logging.Formatter):
    """``asctime`` in UTC whatever the machine's zone is (the format says ``UTC`` after it)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return time.strftime(datefmt or DATE_FORMAT, time.gmtime(record.created))


def configure(level: int = logging.INFO) -> None:
    """Like ``logging.basicConfig`` (a no-op when the root logger is already set up), in UTC."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(UtcFormatter(LOG_FORMAT, DATE_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
