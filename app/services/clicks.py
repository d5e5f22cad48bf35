"""Clicks on tracked links: resolve a token, answer at once, record off the request path.

``GET /l/<token>`` resolves the token with one primary-key read and appends the click to a Redis
stream; the scheduler drains the stream into ``link_clicks`` (consumer group: an entry a crashed
drainer held is claimed again, and ``click_key`` makes its second insert a no-op), so every click
is recorded exactly once. With Redis down the request writes the row itself.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.orm import Session

from app.delivery import goals
from app.dialect import insert_for
from app.errors import NotFound
from app.extensions import db, redis_handle
from app.measure.links import LinkSigner
from app.measure.tracking import links_of
from app.models.delivery import Delivery
from app.models.measure import LinkClick
from app.services.definitions import definition_for

log = logging.getLogger(__name__)

STREAM = "stepline:clicks"
GROUP = "recorders"
CLAIM_IDLE_MS = 30_000  # an entry a drainer read but never acknowledged is taken over after this
STREAM_MAX = 5_000_000  # bound the stream if no drainer runs for a long while (approximate trim)


@dataclass(frozen=True)
class Click:
    """A resolved click: where to send the friend, and what to record."""

    url: str
    delivery_id: int
    link_index: int
    friend_id: int
    enrollment_id: int | None
    scenario_id: str
    step_id: str
    is_test: bool


_FIELDS = ("url", "delivery_id", "link_index", "friend_id", "enrollment_id", "scenario_id", "step_id", "is_test")


def resolve(session: Session, signer: LinkSigner, token: str) -> Click | None:
    """The click a token names, or None (malformed, altered, unknown delivery or link)."""
    parsed = signer.parse(token)
    if parsed is None:
        return None
    delivery_id, index = parsed
    row = session.execute(sa.select(Delivery.scenario_id, Delivery.scenario_version, Delivery.step_id,
                                    Delivery.friend_id, Delivery.enrollment_id, Delivery.is_test)
                          .where(Delivery.id == delivery_id)).first()
    if row is None:
        return None
    try:
        scn = definition_for(session, row.scenario_id, row.scenario_version)
        step = scn.steps[scn.step_index(row.step_id)]
    except (KeyError, NotFound):
        return None
    links = links_of(row.scenario_id, row.scenario_version, step)
    if index >= len(links):
        return None
    return Click(links[index], delivery_id, index, row.friend_id, row.enrollment_id, row.scenario_id, row.step_id,
                 bool(row.is_test))


def record(click: Click, at: datetime) -> str:
    """Queue the click for recording (Redis), or record it now when Redis is down; "queued" | "stored"."""
    key = uuid.uuid4().hex
    entry = {"key": key, "at": f"{at.timestamp():.6f}", **{name: _text(getattr(click, name)) for name in _FIELDS}}
    try:
        redis_handle.client.xadd(STREAM, entry, maxlen=STREAM_MAX, approximate=True)  # type: ignore[arg-type]
        return "queued"
    except (RedisError, OSError) as exc:
        log.warning("click on delivery %s recorded directly: Redis unavailable (%s)", click.delivery_id,
                    type(exc).__name__)
    with db.transaction() as session:
        store(session, [_row(entry)])
    return "stored"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _row(entry: dict[str, str]) -> dict[str, Any]:
    return {
        "click_key": entry["key"], "url": entry["url"], "delivery_id": int(entry["delivery_id"]),
        "link_index": int(entry["link_index"]), "friend_id": int(entry["friend_id"]),
        "enrollment_id": int(entry["enrollment_id"]) if entry.get("enrollment_id") else None,
        "scenario_id": entry["scenario_id"], "step_id": entry["step_id"], "is_test": entry["is_test"] == "1",
        "clicked_at": datetime.fromtimestamp(float(entry["at"]), UTC),
    }


def store(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert clicks (a click key already stored is skipped) and count the click goals they reach."""
    if not rows:
        return 0
    keys = [row["click_key"] for row in rows]
    known = set(session.scalars(sa.select(LinkClick.click_key).where(LinkClick.click_key.in_(keys))))
    fresh = [row for row in rows if row["click_key"] not in known]
    if not fresh:
        return 0
    session.execute(insert_for(session)(LinkClick).values(fresh).on_conflict_do_nothing(index_elements=["click_key"]))
    real = [row for row in fresh if not row["is_test"]]
    cycles = goals.latest_cycles(session, [row["friend_id"] for row in real])
    for row in real:
        goals.complete(session, cycles.get(row["friend_id"], []), goals.CLICK, row["url"], row["clicked_at"])
    return len(fresh)


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
            total += store(session, [_row(_decode(fields)) for _, fields in entries])
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
