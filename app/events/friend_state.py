"""Friend state from follow / unfollow / message events, applied in event-time order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.dialect import among, insert_for, is_postgres
from app.models.friends import FRIEND_ACTIVE, FRIEND_BLOCKED, Friend


@dataclass(frozen=True)
class FollowChange:
    """What a follow event meant for the friend."""

    is_new: bool  # first follow ever seen
    is_refollow: bool  # the friend had blocked us and came back
    applied: bool  # False when a newer block/follow already decided the status


def insert_missing(session: Session, channel: str, user_ids: Sequence[str], *, status: str, now: datetime,
                   names: Mapping[str, str] | None = None) -> None:
    """The get half of get-or-create: a row for each user the channel has none for (a row written
    meanwhile by another transaction wins; its status and name stay)."""
    names = names or {}
    session.execute(
        insert_for(session)(Friend)
        .values([{"channel": channel, "user_id": user_id, "status": status, "display_name": names.get(user_id),
                  "attributes": {}, "opted_out": False, "created_at": now, "updated_at": now}
                 for user_id in user_ids])
        .on_conflict_do_nothing(index_elements=["channel", "user_id"])
    )


def lock_friend(session: Session, channel: str, user_id: str, now: datetime) -> Friend:
    """Get-or-create the friend row and lock it so one friend's events are handled one at a time."""
    insert_missing(session, channel, [user_id], status=FRIEND_ACTIVE, now=now)
    statement = sa.select(Friend).where(Friend.channel == channel, Friend.user_id == user_id)
    if is_postgres(session):
        statement = statement.with_for_update()
    return session.scalars(statement.execution_options(populate_existing=True)).one()


def lock_friends(session: Session, channel: str, user_ids: Sequence[str], now: datetime) -> dict[str, Friend]:
    """:func:`lock_friend` for several friends of one channel: one locking select (in id order, so
    two transactions locking overlapping friends cannot deadlock), and an insert and a second
    select only when some are new (friends usually exist: their follow came first)."""
    wanted = sorted(set(user_ids))
    locked = _lock(session, channel, wanted)
    missing = [user_id for user_id in wanted if user_id not in locked]
    if missing:
        insert_missing(session, channel, missing, status=FRIEND_ACTIVE, now=now)
        locked.update(_lock(session, channel, missing))
    return locked


def _lock(session: Session, channel: str, user_ids: Sequence[str]) -> dict[str, Friend]:
    statement = (sa.select(Friend).where(Friend.channel == channel, among(session, Friend.user_id, user_ids))
                 .order_by(Friend.id))
    if is_postgres(session):
        statement = statement.with_for_update()
    return {friend.user_id: friend for friend in session.scalars(statement.execution_options(populate_existing=True))}


def _is_newer(friend: Friend, at: datetime) -> bool:
    return friend.status_changed_at is None or at >= friend.status_changed_at


def apply_follow(friend: Friend, at: datetime) -> FollowChange:
    """A follow at ``at``: unless a later block is already known, the friend is active again."""
    is_new = friend.followed_at is None and friend.status_changed_at is None
    if not _is_newer(friend, at):
        if friend.followed_at is None:
            friend.followed_at = at
        return FollowChange(is_new=is_new, is_refollow=False, applied=False)
    was_blocked = friend.status == FRIEND_BLOCKED
    friend.status = FRIEND_ACTIVE
    friend.status_changed_at = at
    friend.followed_at = at if (is_new or was_blocked or friend.followed_at is None) else friend.followed_at
    return FollowChange(is_new=is_new, is_refollow=was_blocked, applied=True)


def apply_unfollow(friend: Friend, at: datetime) -> bool:
    """A block at ``at``; False when a later follow is already known (the block is history)."""
    if not _is_newer(friend, at):
        return False
    friend.status = FRIEND_BLOCKED
    friend.status_changed_at = at
    friend.blocked_at = at
    return True


def apply_message(friend: Friend, at: datetime) -> bool:
    """Record that the friend wrote at ``at``; True when ``last_message_at`` moved forward."""
    if friend.last_message_at is None or at > friend.last_message_at:
        friend.last_message_at = at
        return True
    return False
