"""Log lines carry UTC timestamps and say so, whatever zone the machine runs in."""

from __future__ import annotations

import logging

from app.logs import DATE_FORMAT, LOG_FORMAT, UtcFormatter


def test_log_time_is_utc_and_labelled() -> None:
    record = logging.LogRecord("stepline.test", logging.INFO, __file__, 1, "delivery %s sent", (42,), None)
    record.created = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC (09:00 in Tokyo)
    line = UtcFormatter(LOG_FORMAT, DATE_FORMAT).format(record)
    assert line == "2026-01-01 00:00:00 UTC INFO stepline.test: delivery 42 sent"
