"""Held deliveries go back to the queue once quota returns (new month, or a raised limit).

Only as many as the remaining quota can carry are resumed, highest scenario priority first, then
the oldest due: the sender reserves for them, so resuming more would only hold them again.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models.delivery import DELIVERY_HELD, DELIVERY_QUEUED, DELIVERY_SENDING, Delivery
from app.quota.tracker import status

GROUP_SLACK = 500  # look past groups too big to fit (a multicast has at most 500 recipients)
RESUME_LIMIT = 2000  # held rows requeued per sweep


def resume_held(session: Session, now: datetime, *, limit: int = RESUME_LIMIT) -> list[int]:
    """Move held deliveries that fit the quota back to ``queued`` (the caller's transaction); their ids.

    Only what the remaining quota carries, highest priority first, and a multicast group (same
    ``request_key``) whole or not at all: its retry key must keep carrying exactly the same
    recipients, so a group bigger than the room is not requeued just to be held again. The rows'
    ``enqueued_at`` is cleared, so the outbox sweep hands them to senders in the same round.
    """
    resumed: list[int] = []
    channels = session.scalars(sa.select(Delivery.channel).where(Delivery.status == DELIVERY_HELD).distinct())
    for channel in sorted(channels):
        budget = limit - len(resumed)
        if budget <= 0:
            break
        room = room_for_held(session, channel, now)
        resumed += _resume_channel(session, channel, budget if room is None else min(budget, room),
                                   limited=room is not None)
    return resumed


def room_for_held(session: Session, channel: str, now: datetime) -> int | None:
    """Messages held deliveries may use now (None = unlimited).

    Deliveries already queued or sending without a reservation reserve first, so they are
    subtracted from what remains.
    """
    quota = status(session, channel, now)
    if quota.exhausted:
        return 0
    if quota.remaining is None:
        return None
    waiting = session.scalar(
        sa.select(sa.func.count()).select_from(Delivery).where(
            Delivery.channel == channel, Delivery.status.in_((DELIVERY_QUEUED, DELIVERY_SENDING)),
            Delivery.quota_reserved.is_(False),
        )
    )
    return max(0, quota.remaining - int(waiting or 0))


def _resume_channel(session: Session, channel: str, budget: int, *, limited: bool) -> list[int]:
    if budget <= 0:
        return []
    held = sa.and_(Delivery.status == DELIVERY_HELD, Delivery.channel == channel)
    candidates = session.execute(
        sa.select(Delivery.id, Delivery.request_key).where(held)
        .order_by(Delivery.priority.desc(), Delivery.due_at, Delivery.id).limit(budget + GROUP_SLACK)
    ).all()
    keys = {row.request_key for row in candidates if row.request_key}
    sizes: dict[str, int] = dict(
        session.execute(
            sa.select(Delivery.request_key, sa.func.count()).where(held, Delivery.request_key.in_(keys))
            .group_by(Delivery.request_key)
        ).all()  # type: ignore[arg-type]
    ) if keys else {}
    ids: list[int] = []
    chosen_keys: set[str] = set()
    for row in candidates:
        if budget <= 0:
            break
        if row.request_key in chosen_keys:
            continue
        size = sizes.get(row.request_key, 1) if row.request_key else 1
        if limited and size > budget:
            continue  # a group that cannot go out whole waits; smaller deliveries may still fit
        budget -= size
        if row.request_key:
            chosen_keys.add(row.request_key)
        else:
            ids.append(row.id)
    if not ids and not chosen_keys:
        return []
    chosen = sa.or_(Delivery.id.in_(ids), Delivery.request_key.in_(chosen_keys))
    moved = list(session.execute(
        sa.update(Delivery).where(held, chosen)
        .values(status=DELIVERY_QUEUED, enqueued_at=None, next_attempt_at=None, error=None)
        .returning(Delivery.id, Delivery.request_key)
        .execution_options(synchronize_session=False)
    ))
    # priority order kept, each multicast group contiguous (send jobs are cut from this list)
    rank: dict[int | str, int] = {row.id: i for i, row in enumerate(candidates)}
    for i, row in enumerate(candidates):
        if row.request_key:
            rank.setdefault(row.request_key, i)
    moved.sort(key=lambda row: (rank.get(row.request_key or row.id, len(rank)), row.id))
    return [row.id for row in moved]
