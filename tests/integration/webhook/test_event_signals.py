"""The webhook's hand-off to the workers (workers/event_signals.py): friends land in their shard's
set, and one drain job is enqueued per shard until that drain finishes."""

from __future__ import annotations

import pytest
import redis

from workers import event_jobs, event_signals
from workers.queues import EVENTS, get_queue


def _drains() -> list[int]:
    """The shards of the drain jobs waiting in the events queue."""
    return sorted(job.args[0] for job in get_queue(EVENTS).jobs)


def test_friends_of_several_shards_are_marked_and_each_shard_drained_once(app, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    friends = [("default", f"Usig{i}") for i in range(5_000)]  # every shard, more than one SADD slice each
    assert event_jobs.signal_friends(friends)
    by_shard: dict[int, set[bytes]] = {}
    for channel, user in friends:
        by_shard.setdefault(event_signals.shard_of(channel, user), set()).add(f"{channel}\x1f{user}".encode())
    assert _drains() == sorted(by_shard) == list(range(event_signals.SHARDS))
    for shard, members in by_shard.items():
        assert client.smembers(event_signals.SET_KEY.format(shard)) == members
        assert 0 < client.ttl(event_signals.FLAG_KEY.format(shard)) <= event_signals.FLAG_TTL_S
    assert event_jobs.signal_friends([("default", "Usig0")])  # a drain is pending already: no second job
    assert len(_drains()) == event_signals.SHARDS


def test_a_finished_drain_lets_the_next_signal_enqueue_again(app) -> None:
    shard = event_signals.shard_of("default", "Usolo")
    assert event_jobs.signal_friends([("default", "Usolo")])
    assert event_signals.take_friends(shard) == [("default", "Usolo")]
    assert event_signals.finish_drain(shard) is False
    assert event_jobs.signal_friends([("default", "Usolo")])
    assert _drains() == [shard, shard]



def test_a_redis_that_lost_its_scripts_still_gets_the_signal(app, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert event_jobs.signal_friends([("default", "Ubefore")])
    client.script_flush()  # what a restarted Redis looks like to EVALSHA
    assert event_jobs.signal_friends([("default", "Uafter")])
    shard = event_signals.shard_of("default", "Uafter")
    assert b"default\x1fUafter" in client.smembers(event_signals.SET_KEY.format(shard))


def _signal_one_shard(shard: int, count: int) -> list[str]:
    users = [user for user in (f"Uturn{i}" for i in range(count)) if event_signals.shard_of("default", user) == shard]
    assert len(users) > 100  # more than one batch
    assert event_jobs.signal_friends([("default", user) for user in users])
    return users


def test_a_drain_whose_turn_is_over_passes_the_rest_of_its_shard_behind_the_jobs_waiting(
        app, redis_url: str) -> None:
    """With fewer workers than shards (one, as the Procfile runs), a shard that never empties must
    not keep its worker: after its turn the rest goes to a fresh job behind the others."""
    client = redis.Redis.from_url(redis_url)
    users = _signal_one_shard(0, 2_000)
    other = next(user for user in (f"Uother{i}" for i in range(100)) if event_signals.shard_of("default", user) == 1)
    assert event_jobs.signal_friends([("default", other)])  # shard 1's drain waits behind shard 0's
    assert _drains() == [0, 1]
    get_queue(EVENTS).remove(get_queue(EVENTS).jobs[0])  # shard 0's job: taken by this "worker"
    event_jobs.drain_friend_events(0, turn_s=0.0)  # one batch, then the turn is over
    assert client.scard(event_signals.SET_KEY.format(0)) == len(users) - 100
    assert _drains() == [0, 1] and [job.args[0] for job in get_queue(EVENTS).jobs] == [1, 0]
    assert client.exists(event_signals.FLAG_KEY.format(0))
    assert event_jobs.signal_friends([("default", users[0])])  # the passed-on job is pending: no second one
    assert _drains() == [0, 1]


def test_a_drain_nobody_waits_behind_goes_on_after_its_turn(
        app, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = redis.Redis.from_url(redis_url)
    _signal_one_shard(0, 2_000)
    get_queue(EVENTS).empty()  # its job taken by this "worker"; no other job waits
    renewed: list[int] = []
    real_hold = event_signals.hold

    def hold(shard: int) -> None:
        client.expire(event_signals.FLAG_KEY.format(shard), 1)  # as if the TTL were nearly over
        real_hold(shard)
        renewed.append(client.ttl(event_signals.FLAG_KEY.format(shard)))

    monkeypatch.setattr(event_signals, "hold", hold)
    event_jobs.drain_friend_events(0, turn_s=0.0)
    assert renewed and all(ttl > 1 for ttl in renewed)  # the flag renewed at every turn it went on
    assert client.scard(event_signals.SET_KEY.format(0)) == 0 and _drains() == []
    assert not client.exists(event_signals.FLAG_KEY.format(0))
