"""Hand friends with new events to the workers cheaply: one Redis command per webhook batch.

The webhook adds ``channel/user`` to one of a few shard sets and enqueues a drain job for that
shard only when none is pending (a SET NX flag), so a burst of webhooks costs a few RQ jobs, not
one per request. Both happen in one server-side script: a pipeline of SADD + SET per shard cost
the web process more Python than the ledger insert. Losing Redis loses nothing: the ledger keeps
the events and the sweep re-signals.
"""

from __future__ import annotations

import functools
import logging
import zlib
from collections.abc import Callable, Iterable
from itertools import chain

from redis import Redis
from redis.commands.core import Script
from redis.exceptions import RedisError

from app.extensions import redis_handle
from workers.queues import EVENTS, enqueue, get_queue, note_failure

log = logging.getLogger(__name__)

SHARDS = 4  # at most this many drain jobs run at once; one friend always lands in the same shard
SET_KEY = "stepline:events:pending:{}"
FLAG_KEY = "stepline:events:drain-scheduled:{}"
FLAG_TTL_S = 30  # a drain job lost with its worker is replaced after this long
SEPARATOR = "\x1f"
# KEYS: set and flag key per shard; ARGV: the flag's TTL, the member count per shard, the members.
# Returns 1 per shard whose flag it set (a drain job must be enqueued), else 0.
_SIGNAL_LUA = """
local chunk = 1000  -- members per SADD: Lua's unpack has a stack limit
local shards = #KEYS / 2
local pos = 2 + shards
local fresh = {}
for i = 1, shards do
  local last = pos + tonumber(ARGV[1 + i]) - 1
  for first = pos, last, chunk do
    redis.call('SADD', KEYS[2 * i - 1], unpack(ARGV, first, math.min(first + chunk - 1, last)))
  end
  pos = last + 1
  fresh[i] = redis.call('SET', KEYS[2 * i], '1', 'NX', 'EX', ARGV[1]) and 1 or 0
end
return fresh
"""


def shard_of(channel: str, user_id: str) -> int:
    return zlib.crc32(f"{channel}{SEPARATOR}{user_id}".encode()) % SHARDS


@functools.cache
def _signal_script(client: Redis) -> Script:
    """The script, run by EVALSHA (loaded again when a restarted Redis no longer has it)."""
    return client.register_script(_SIGNAL_LUA)


def signal_friends(friends: Iterable[tuple[str, str]], drain: Callable[[int], object]) -> bool:
    """Mark friends as having pending events and make sure a drain job runs for their shards."""
    by_shard: dict[int, list[str]] = {}
    for channel, user_id in friends:
        by_shard.setdefault(shard_of(channel, user_id), []).append(f"{channel}{SEPARATOR}{user_id}")
    if not by_shard:
        return True
    keys = [key for shard in by_shard for key in (SET_KEY.format(shard), FLAG_KEY.format(shard))]
    counts = [len(members) for members in by_shard.values()]
    try:
        client = redis_handle.client
        scheduled = _signal_script(client)(keys, [FLAG_TTL_S, *counts, *chain.from_iterable(by_shard.values())],
                                           client=client)
    except (RedisError, OSError) as exc:
        note_failure()
        log.warning("could not signal %d friends (%s); the sweep will pick them up", len(by_shard),
                    type(exc).__name__)
        return False
    return all(enqueue(EVENTS, drain, shard) for shard, fresh in zip(by_shard, scheduled, strict=True) if fresh)


def take_friends(shard: int, count: int = 100) -> list[tuple[str, str]]:
    """Pop up to ``count`` friends of ``shard`` to process."""
    members: list[bytes] = redis_handle.client.spop(SET_KEY.format(shard), count) or []  # type: ignore[assignment]
    pairs = (member.decode().split(SEPARATOR, 1) for member in members)
    return [(channel, user_id) for channel, user_id in pairs]


def others_waiting() -> bool:
    """Whether event jobs wait in the queue (another shard's drain): a drain then passes its turn on."""
    return bool(get_queue(EVENTS).count)


def hold(shard: int) -> None:
    """A drain going on past its turn renews the shard's flag, so a stream longer than the flag's
    TTL never makes a signal enqueue a second drain of the same shard."""
    redis_handle.client.expire(FLAG_KEY.format(shard), FLAG_TTL_S)


def pass_on(shard: int, drain: Callable[[int], object]) -> bool:
    """A drain whose turn is over hands the rest of its shard to a fresh job at the back of the
    events queue, keeping the flag (so no signal adds a second job meanwhile): the other shards'
    drains waiting there go first. False when Redis refused; the flag then expires and the next
    signal, or the sweep, starts a drain again."""
    try:
        redis_handle.client.set(FLAG_KEY.format(shard), "1", ex=FLAG_TTL_S)
    except (RedisError, OSError) as exc:
        note_failure()
        log.warning("could not pass shard %d on (%s); the sweep will pick it up", shard, type(exc).__name__)
        return False
    return enqueue(EVENTS, drain, shard)


def finish_drain(shard: int) -> bool:
    """Clear the shard's flag; True when friends arrived meanwhile and the caller must drain again."""
    client = redis_handle.client
    client.delete(FLAG_KEY.format(shard))
    if client.scard(SET_KEY.format(shard)) == 0:
        return False
    return bool(client.set(FLAG_KEY.format(shard), "1", nx=True, ex=FLAG_TTL_S))
