"""A Redis restart (a real redis-server stopped and started) is noticed by the scheduler's watch,
which hands the deliveries and ledger events whose jobs vanished to the new Redis at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from app.config import Settings
from app.extensions import bind_services, db
from app.models.base import utcnow
from app.models.events import WebhookEvent
from app.services.delivery import schedule_due
from devstack.processes import RedisServer
from tests.factories import empty_all_tables, population
from workers import delivery_jobs, event_signals, periodic, queues
from workers.queues import DELIVERIES, get_queue
from workers.redis_watch import RedisWatch


@pytest.fixture()
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture()
def env(env: dict[str, str], private_redis: RedisServer) -> dict[str, str]:
    return {**env, "REDIS_URL": private_redis.url}


@pytest.fixture()
def bound(settings: Settings) -> Iterator[Settings]:
    bind_services(settings)
    yield settings
    bind_services(settings)
    empty_all_tables()


def _restart(server: RedisServer) -> None:
    server.stop()
    server.start()


class _Recoveries:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def _watch(url: str, recover: _Recoveries) -> RedisWatch:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    return RedisWatch(recover, client=lambda: client)


def test_a_fresh_redis_is_swept_once_then_left_alone(private_redis: RedisServer) -> None:
    recoveries = _Recoveries()
    watch = _watch(private_redis.url, recoveries)
    assert watch.check() is True  # nobody has seen this server: whatever was queued before is lost
    assert [watch.check() for _ in range(3)] == [False, False, False]
    assert recoveries.count == 1


def test_a_restart_is_swept_by_one_scheduler_only(private_redis: RedisServer) -> None:
    first, second = _Recoveries(), _Recoveries()
    watches = [_watch(private_redis.url, first), _watch(private_redis.url, second)]
    for watch in watches:
        watch.check()
    first.count = second.count = 0
    private_redis.stop()
    assert [watch.check() for watch in watches] == [False, False]  # both saw the outage
    private_redis.start()
    assert [watch.check() for watch in watches] == [True, False]
    assert [watch.check() for watch in watches] == [False, False]
    assert (first.count, second.count) == (1, 0)


def test_redis_unreachable_then_back_is_swept(private_redis: RedisServer) -> None:
    recoveries = _Recoveries()
    watch = _watch(private_redis.url, recoveries)
    watch.check()
    private_redis.stop()
    assert watch.check() is False  # nothing to hand work to yet
    private_redis.start()
    assert watch.check() is True
    assert recoveries.count == 2


def test_a_failed_enqueue_of_this_process_is_swept_at_the_next_check(private_redis: RedisServer) -> None:
    recoveries = _Recoveries()
    watch = _watch(private_redis.url, recoveries)
    watch.check()
    queues.note_failure()  # e.g. a network blip between two checks: no restart, but a job not handed over
    assert watch.check() is True
    assert watch.check() is False


def test_deliveries_and_events_lost_with_redis_are_queued_again_at_once(
    bound: Settings, private_redis: RedisServer
) -> None:
    population(3)
    now = utcnow()
    schedule_due(now, delivery_jobs.enqueue_send)
    assert get_queue(DELIVERIES).count > 0
    with db.transaction() as session:
        session.add(WebhookEvent(webhook_event_id="evt-during-outage", channel="default", type="message",
                                 source_type="user", user_id="Uoutage", timestamp=now, payload={},
                                 received_at=now - timedelta(seconds=1)))
    watch = RedisWatch(periodic.recover_lost_jobs)
    watch.check()  # this Redis is now known
    _restart(private_redis)
    assert get_queue(DELIVERIES).count == 0  # the jobs are gone; the rows say enqueued a moment ago
    assert delivery_jobs.sweep_deliveries() == 0  # the regular sweep would wait REENQUEUE_AFTER
    assert watch.check() is True
    requeued = [i for job in get_queue(DELIVERIES).get_jobs() for i in job.args[0]]
    assert len(requeued) == 3
    shard = event_signals.shard_of("default", "Uoutage")
    pending = get_queue(DELIVERIES).connection.smembers(event_signals.SET_KEY.format(shard))
    assert pending == {f"default{event_signals.SEPARATOR}Uoutage".encode()}
