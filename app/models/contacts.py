"""Typed attribute fields and saved segments (SPEC §8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow

FIELD_TYPES = ("text", "number", "date", "datetime", "bool", "choice")


class FriendField(Base):
    """The definition of one friend attribute: its type (values are coerced to it), label and order."""

    __tablename__ = "friend_fields"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(16))
    label: Mapped[str | None] = mapped_column(sa.String(200))
    choices: Mapped[list[str]] = mapped_column(JSONType, default=list)
    position: Mapped[int] = mapped_column(default=0)
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Segment(Base):
    """A saved filter, evaluated afresh every time it is used."""

    __tablename__ = "segments"

    id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    filter: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
