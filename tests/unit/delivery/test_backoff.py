"""Retry delays: exponential, jittered, capped, never sooner than LINE's Retry-After."""

from __future__ import annotations

import random

from app.delivery.backoff import CAP_SECONDS, MAX_ATTEMPTS, backoff_delay, gives_up


def test_delay_doubles_within_jitter_bounds() -> None:
    rng = random.Random(1)
    for attempt, window in [(1, 1), (2, 2), (3, 4), (4, 8)]:
        delay = backoff_delay(attempt, rng=rng).total_seconds()
        assert window / 2 <= delay <= window


def test_delay_is_capped() -> None:
    assert backoff_delay(40, rng=random.Random(2)).total_seconds() <= CAP_SECONDS


def test_retry_after_is_honoured() -> None:
    assert backoff_delay(1, retry_after=7, rng=random.Random(3)).total_seconds() == 7


def test_jitter_spreads_workers() -> None:
    rng = random.Random(4)
    assert len({backoff_delay(5, rng=rng) for _ in range(20)}) == 20


def test_gives_up_after_max_attempts() -> None:
    assert not gives_up(MAX_ATTEMPTS - 1) and gives_up(MAX_ATTEMPTS)
