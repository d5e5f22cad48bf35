"""Friends of a LINE Official Account and their tags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow

FRIEND_ACTIVE = "active"
FRIEND_BLOCKED = "blocked"
# a user known only from a test send: no audience or friend count includes them until they follow
FRIEND_TEST = "test"


class Friend(Base):
    """A LINE user who added (and maybe blocked) one of our channels."""

    __tablename__ = "friends"
    __table_args__ = (sa.UniqueConstraint("channel", "user_id", name="uq_friends_channel_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[str] = mapped_column(sa.String(64))
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16), default=FRIEND_ACTIVE)
    # timestamp of the event that last changed ``status``: out-of-order events never undo a newer one
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    followed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opted_out: Mapped[bool] = mapped_column(default=False)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    route: Mapped[str | None] = mapped_column(sa.String(100), index=True)  # the first friend-add route (§10)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def is_blocked(self) -> bool:
        return self.status == FRIEND_BLOCKED


class FriendTag(Base):
    """A tag on a friend (set by rules or admins); one row per (friend, tag)."""

    __tablename__ = "friend_tags"
    # "the friends with tag T" as an index-only scan (a tag condition hashed for a count or bulk action)
    __table_args__ = (sa.Index("ix_friend_tags_tag_friend_id", "tag", "friend_id"),)

    friend_id: Mapped[int] = mapped_column(sa.ForeignKey("friends.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
