"""Hand friends with new events to the workers cheaply: one Redis round trip per webhook.

The webhook adds ``channel/user`` to one of a few shard sets and enqueues a drain job for that
shard only when none is pending (a SET NX flag), so a burst of webhooks costs a few RQ jobs, not
one per request. Losing Redis loses nothing: the ledger keeps the events and the sweep re-signals.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterable

from redis.exceptions import RedisError

from app.extensions import redis_handle
from workers.queues import EVENTS, enqueue, note_failure

log = logging.getLogger(__name__)

SHARDS = 4  # at most this many drain jobs run at once; one friend always lands in the same shard
SET_KEY = "stepline:events:pending:{}"
FLAG_KEY = "stepline:events:drain-scheduled:{}"
FLAG_TTL_S = 30  # a drain job lost with its worker is replaced after this long
SEPARATOR = "\x1f"


def shard_of(channel: str, user_id: str) -> int:
    return zlib.crc32(f"{channel}{SEPARATOR}{user_id}".encode()) % SHARDS


def signal_friends(friends: Iterable[tuple[str, str]], drain: Callable[[int], object]) -> bool:
    """Mark friends as having pending events and make sure a drain job runs for their shards."""
    by_shard: dict[int, list[str]] = {}
    for channel, user_id in friends:
        by_shard.setdefault(shard_of(channel, user_id), []).append(f"{channel}{SEPARATOR}{user_id}")
    if not by_shard:
        return True
    try:
        pipe = redis_handle.client.pipeline(transaction=False)
        for shard, members in by_shard.items():
            pipe.sadd(SET_KEY.format(shard), *members)
            pipe.set(FLAG_KEY.format(shard), "1", nx=True, ex=FLAG_TTL_S)
        answers = pipe.execute()
    except (RedisError, OSError) as exc:
        note_failure()
        log.warning("could not signal %d friends (%s); the sweep will pick them up", len(by_shard),
                    type(exc).__name__)
        return False
    scheduled = answers[1::2]
    return all(enqueue(EVENTS, drain, shard) for shard, fresh in zip(by_shard, scheduled, strict=True) if fresh)


def take_friends(shard: int, count: int = 100) -> list[tuple[str, str]]:
    """Pop up to ``count`` friends of ``shard`` to process."""
    members: list[bytes] = redis_handle.client.spop(SET_KEY.format(shard), count) or []  # type: ignore[assignment]
    pairs = (member.decode().split(SEPARATOR, 1) for member in members)
    return [(channel, user_id) for channel, user_id in pairs]


def finish_drain(shard: int) -> bool:
    """Clear the shard's flag; True when friends arrived meanwhile and the caller must drain again."""
    client = redis_handle.client
    client.delete(FLAG_KEY.format(shard))
    if client.scard(SET_KEY.format(shard)) == 0:
        return False
    return bool(client.set(FLAG_KEY.format(shard), "1", nx=True, ex=FLAG_TTL_S))
