"""Counters recorded by any process into Redis hashes (workers are separate processes).

Recording is best-effort: a Redis outage never slows or fails a send — after an error the
recorder stays quiet for a while instead of paying a connect timeout per call.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import defaultdict

from app.extensions import redis_handle

log = logging.getLogger(__name__)

LINE_CALLS_KEY = "stepline:metrics:line_calls"  # "endpoint|outcome" → count
LINE_LATENCY_KEY = "stepline:metrics:line_latency"  # "endpoint|le" (per bucket), "endpoint|sum", "endpoint|count"
QUOTA_ALERTS_KEY = "stepline:metrics:quota_alerts"  # "channel|threshold" → times fired
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
INF = "+Inf"
PAUSE_AFTER_ERROR_S = 30.0

FLUSH_INTERVAL_S = 1.0

_paused_until = 0.0
_pending: defaultdict[tuple[str, str, str], float] = defaultdict(float)
_pending_lock = threading.Lock()
_last_flush = 0.0


def bucket_label(seconds: float) -> str:
    """The ``le`` label of the smallest bucket holding ``seconds`` (``+Inf`` past the last)."""
    index = bisect.bisect_left(LATENCY_BUCKETS, seconds)
    return INF if index >= len(LATENCY_BUCKETS) else repr(LATENCY_BUCKETS[index])


def record_line_call(endpoint: str, outcome: str, seconds: float) -> None:
    """Count one LINE API call and its latency.

    Counts gather in memory and go to Redis in one pipeline at most every ``FLUSH_INTERVAL_S``
    (a Redis round trip per push would cost a third of the sender's time).
    """
    endpoint, outcome = _clean(endpoint), _clean(outcome)
    seconds = max(0.0, float(seconds))
    global _last_flush
    with _pending_lock:
        _pending[("hincrby", LINE_CALLS_KEY, f"{endpoint}|{outcome}")] += 1
        _pending[("hincrby", LINE_LATENCY_KEY, f"{endpoint}|{bucket_label(seconds)}")] += 1
        _pending[("hincrbyfloat", LINE_LATENCY_KEY, f"{endpoint}|sum")] += seconds
        _pending[("hincrby", LINE_LATENCY_KEY, f"{endpoint}|count")] += 1
        if time.monotonic() - _last_flush < FLUSH_INTERVAL_S:
            return
        _last_flush = time.monotonic()
    flush_line_calls()


def flush_line_calls() -> None:
    """Write the gathered LINE call counts to Redis now."""
    with _pending_lock:
        commands = [(name, key, field, amount) for (name, key, field), amount in _pending.items()]
        _pending.clear()
    if commands:
        _write(*commands)


def record_quota_alert(channel: str, threshold: int) -> None:
    """Count a fired quota alert (the exporter also shows which alerts are active this month)."""
    _write(("hincrby", QUOTA_ALERTS_KEY, f"{_clean(channel)}|{threshold}", 1))


def _write(*commands: tuple[str, str, str, float]) -> None:
    global _paused_until
    if time.monotonic() < _paused_until:
        return
    try:
        pipe = redis_handle.client.pipeline(transaction=False)
        for name, key, field, amount in commands:
            getattr(pipe, name)(key, field, int(amount) if name == "hincrby" else amount)
        pipe.execute()
    except Exception as exc:  # noqa: BLE001 - metrics must never break the caller
        _paused_until = time.monotonic() + PAUSE_AFTER_ERROR_S
        log.warning("metrics not recorded for %.0f s: Redis unavailable (%s)", PAUSE_AFTER_ERROR_S,
                    type(exc).__name__)


def _clean(value: str) -> str:
    return str(value).replace("|", "_")[:64] or "unknown"


def resume_recording() -> None:
    """Forget a previous Redis error (tests, or after Redis came back)."""
    global _paused_until
    _paused_until = 0.0
