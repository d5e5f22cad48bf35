"""Clicks on tracked links: resolve a token, answer at once, record off the request path.

``GET /l/<token>`` resolves the token from process caches (no database read once warm) and hands
the click to a write-behind buffer that appends it to a Redis stream within a few milliseconds
(:mod:`app.services.click_queue`, which also says what a killed process loses); the scheduler
drains the stream into ``link_clicks`` (consumer group: an entry a crashed drainer held is claimed
again, and ``click_key`` makes its second insert a no-op), so every click that reached Redis is
recorded exactly once. With Redis down the buffer writes the rows itself.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.orm import Session

from app.delivery import goals
from app.dialect import among, insert_for, is_postgres
from app.errors import NotFound
from app.extensions import db, redis_handle
from app.measure import clicks_pg, versions
from app.measure.links import LinkRef, LinkSigner
from app.measure.tracking import links_of
from app.models.delivery import Delivery
from app.models.measure import LinkClick
from app.scenarios.schema import ScenarioDef
from app.scenarios.store import cached as definition_cached
from app.scenarios.store import definition_for
from app.services.click_queue import ClickQueue

log = logging.getLogger(__name__)

STREAM = "stepline:clicks"
GROUP = "recorders"
CLAIM_IDLE_MS = 30_000  # an entry a drainer read but never acknowledged is taken over after this
STREAM_MAX = 5_000_000  # bound the stream if no drainer runs for a long while (approximate trim)


@dataclass(frozen=True)
class Click:
    """A resolved click: where to send the friend, and which delivery and link it was."""

    url: str
    delivery_id: int
    link_index: int
    scenario_id: str
    step_id: str


def resolve(signer: LinkSigner, token: str, session: Session | None = None) -> Click | None:
    """The click a token names, or None (malformed, altered, unknown version, step or link).

    Once warm this opens no session and reads nothing: the version row is cached per process and
    the definition comes from the definitions cache; the friend is looked up when the click is
    recorded. A miss reads through ``session`` (or a short session of its own).
    """
    found = _from_caches(signer, token)
    if found is not _UNCACHED:
        return found  # type: ignore[return-value]
    if session is not None:
        return _resolve(session, signer, token)
    with db.session() as own:
        return _resolve(own, signer, token)


_UNCACHED = object()


def _from_caches(signer: LinkSigner, token: str) -> Click | None | object:
    """:func:`resolve` from the process caches alone; ``_UNCACHED`` when it needs the database
    (an unknown version row or definition, or a signature that fails: the row may be reused)."""
    def scope_of(ref: LinkRef) -> str | None:
        found = versions.cached(ref.version_row)
        return versions.scope(*found) if found else None

    ref = signer.parse(token, scope_of)
    if ref is None:
        return _UNCACHED
    found = versions.cached(ref.version_row)
    scn = definition_cached(*found) if found else None
    if scn is None:
        return _UNCACHED
    return _click(scn, ref)


def _resolve(session: Session, signer: LinkSigner, token: str) -> Click | None:
    cached: list[int] = []

    def scope_of(ref: LinkRef) -> str | None:
        if versions.is_cached(ref.version_row):
            cached.append(ref.version_row)
        found = versions.by_row(session, ref.version_row)
        return versions.scope(*found) if found else None

    ref = signer.parse(token, scope_of)
    if ref is None and cached:  # the cached row may have been reused (SQLite, after a delete): read it again
        versions.forget(cached[0])
        ref = signer.parse(token, scope_of)
    if ref is None:
        return None
    found = versions.by_row(session, ref.version_row)
    if found is None:
        return None
    try:
        scn = definition_for(session, found[0], found[1])
    except NotFound:
        return None
    return _click(scn, ref)


def _click(scn: ScenarioDef, ref: LinkRef) -> Click | None:
    if ref.step_index >= len(scn.steps):
        return None
    step = scn.steps[ref.step_index]
    links = links_of(step)
    if ref.link_index >= len(links):
        return None
    return Click(links[ref.link_index], ref.delivery_id, ref.link_index, scn.id, step.id)


class _ClickKeys:
    """Unique click keys without a system call each: a random prefix per process and a counter
    (``uuid4`` read ``os.urandom`` for every click, a twentieth of the redirect's CPU)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._prefix = ""
        self._counter = itertools.count()

    def next(self) -> str:
        if self._pid != os.getpid():  # first use, or a forked child: never its parent's keys
            with self._lock:
                if self._pid != os.getpid():
                    self._prefix, self._counter = os.urandom(12).hex(), itertools.count()
                    self._pid = os.getpid()
        return f"{self._prefix}{next(self._counter):x}"


_keys = _ClickKeys()


def record(click: Click, at: datetime) -> None:
    """Hand the click to this process's write-behind buffer (:mod:`app.services.click_queue`): in
    the Redis stream within a few milliseconds, or stored directly when Redis is down."""
    _queue.put({"key": _keys.next(), "at": f"{at.timestamp():.6f}", "url": click.url,
                "delivery_id": str(click.delivery_id), "link_index": str(click.link_index),
                "scenario_id": click.scenario_id, "step_id": click.step_id})


def _append(entries: list[dict[str, str]]) -> None:
    pipe = redis_handle.client.pipeline(transaction=False)
    for entry in entries:
        pipe.xadd(STREAM, entry, maxlen=STREAM_MAX, approximate=True)  # type: ignore[arg-type]
    pipe.execute()


def _store_now(entries: list[dict[str, str]]) -> None:
    with db.transaction() as session:
        store(session, entries)


_queue = ClickQueue(_append, _store_now)


def flush_buffered() -> int:
    """Write the clicks this process has buffered now (before a drain or a statistics read; the
    flusher thread does it within ``FLUSH_INTERVAL_S`` anyway); how many."""
    try:
        return _queue.flush()
    except Exception:  # noqa: BLE001 - still buffered; the flusher tries again
        log.warning("buffered clicks not written yet", exc_info=True)
        return 0


def _rows(session: Session, entries: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Entries with their delivery's friend, cycle and test flag (one lookup for the batch); a click
    on a delivery since removed is dropped."""
    ids = list({int(e["delivery_id"]) for e in entries})
    deliveries = {row.id: row for row in session.execute(
        sa.select(Delivery.id, Delivery.friend_id, Delivery.enrollment_id, Delivery.is_test)
        .where(among(session, Delivery.id, ids)))}
    rows = []
    for entry in entries:
        delivery = deliveries.get(int(entry["delivery_id"]))
        if delivery is None:
            continue
        rows.append({"click_key": entry["key"], "url": entry["url"], "delivery_id": delivery.id,
                     "link_index": int(entry["link_index"]), "friend_id": delivery.friend_id,
                     "enrollment_id": delivery.enrollment_id, "scenario_id": entry["scenario_id"],
                     "step_id": entry["step_id"], "is_test": bool(delivery.is_test),
                     "clicked_at": datetime.fromtimestamp(float(entry["at"]), UTC)})
    return rows


def store(session: Session, entries: list[dict[str, str]]) -> int:
    """Insert clicks (a click key already stored is skipped) and count the click goals they reach."""
    if not entries:
        return 0
    entries = list({entry["key"]: entry for entry in entries}.values())  # an entry appended twice (a retried flush)
    fresh = clicks_pg.insert_new(session, entries) if is_postgres(session) else _insert_new(session, entries)
    real = [row for row in fresh if not row["is_test"]]
    if not real or not goals.any_goal_of(session, goals.CLICK):
        return len(fresh)
    cycles = goals.latest_cycles(session, [row["friend_id"] for row in real])
    for row in real:
        goals.complete(session, cycles.get(row["friend_id"], []), goals.CLICK, row["url"], row["clicked_at"])
    return len(fresh)


def _insert_new(session: Session, entries: list[dict[str, str]]) -> list[dict[str, Any]]:
    """SQLite: the rows of clicks not stored yet, inserted as one executemany (a multi-row VALUES
    would be compiled again for every batch size)."""
    keys = [entry["key"] for entry in entries]
    known = set(session.scalars(sa.select(LinkClick.click_key).where(LinkClick.click_key.in_(keys))))
    fresh = _rows(session, [entry for entry in entries if entry["key"] not in known])
    if fresh:
        session.execute(insert_for(session)(LinkClick).on_conflict_do_nothing(index_elements=["click_key"]), fresh)
    return fresh


def _decode(fields: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in fields.items()}


def _ensure_group(client: Any) -> None:
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def drain(batch: int = 2000, consumer: str | None = None) -> int:
    """Move queued clicks from Redis into the database; how many new rows. Safe to run concurrently."""
    flush_buffered()
    client = redis_handle.client
    consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
    _ensure_group(client)
    total = 0
    claimed: Any = client.xautoclaim(STREAM, GROUP, consumer, min_idle_time=CLAIM_IDLE_MS, start_id="0-0", count=batch)
    entries = list(claimed[1]) if claimed else []
    while True:
        if not entries:
            answer: Any = client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=batch)
            entries = list(answer[0][1]) if answer else []
        entries = [(entry_id, fields) for entry_id, fields in entries if fields]
        if not entries:
            return total
        with db.transaction() as session:
            total += store(session, [_decode(fields) for _, fields in entries])
        ids = [entry_id for entry_id, _ in entries]
        client.xack(STREAM, GROUP, *ids)
        client.xdel(STREAM, *ids)
        entries = []


def backlog() -> int:
    """Clicks queued in Redis and not yet recorded (for /metrics)."""
    try:
        return int(redis_handle.client.xlen(STREAM))
    except (RedisError, OSError):
        return 0


def drain_now() -> int:
    """Record what is queued before statistics are read (best effort: the scheduler drains anyway)."""
    try:
        return drain()
    except (RedisError, OSError):
        return 0
