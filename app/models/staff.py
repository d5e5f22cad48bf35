"""Staff accounts, their API tokens, server-side dashboard sessions and the audit log (SPEC §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow


class Staff(Base):
    """One person who may use the dashboard or the API; ``role`` is one of viewer/operator/admin/owner."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)  # stored lower-case
    display_name: Mapped[str] = mapped_column(sa.String(200), default="")
    role: Mapped[str] = mapped_column(sa.String(16))
    can_export: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))  # argon2id; NULL: no password login
    invite_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)  # sha256 of a one-time link
    invite_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffToken(Base):
    """A named API token of one staff member; only its SHA-256 is stored (it has 256 random bits)."""

    __tablename__ = "staff_tokens"
    __table_args__ = (sa.UniqueConstraint("staff_id", "name", name="uq_staff_tokens_staff_id_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffSession(Base):
    """A dashboard session: the cookie carries a random id, this row its SHA-256 and the data.

    ``login`` is the staff email or ``admin`` (the built-in owner) once logged in, NULL before.
    Deleting the row ends the session at once, whatever copies of the cookie exist.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    login: Mapped[str | None] = mapped_column(sa.String(254))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AuditEntry(Base):
    """Who did what to which object, when and from where; kept at least a year (``audit prune``)."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_actor_id", "actor", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(254))
    action: Mapped[str] = mapped_column(sa.String(100))
    target: Mapped[str | None] = mapped_column(sa.String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    source: Mapped[str | None] = mapped_column(sa.String(64))
