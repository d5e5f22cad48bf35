"""Prometheus metrics: workers record into Redis, the web process exports everything at scrape time."""

from app.metrics.recorder import flush_line_calls, record_line_call, record_quota_alert

__all__ = ["flush_line_calls", "record_line_call", "record_quota_alert"]
