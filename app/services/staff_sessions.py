"""The server-side session store: rows keyed by the SHA-256 of the random id the cookie carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models.base import utcnow
from app.models.staff import StaffSession
from app.staff.credentials import digest, new_secret


@dataclass(frozen=True)
class StoredSession:
    """What a request gets back for its cookie."""

    id_hash: str
    login: str | None
    staff_id: int | None
    data: dict[str, Any]


def load(session_id: str, now: datetime | None = None) -> StoredSession | None:
    """The live session the id names, or None (unknown, ended or expired)."""
    id_hash = digest(session_id)
    with db.session() as session:
        row = session.scalars(sa.select(StaffSession).where(StaffSession.id_hash == id_hash)).first()
        if row is None or row.expires_at <= (now or utcnow()):
            return None
        return StoredSession(id_hash, row.login, row.staff_id, dict(row.data or {}))


def create(data: dict[str, Any], lifetime: timedelta, login: str | None = None, staff_id: int | None = None,
           replaces: str | None = None) -> str:
    """A new session (a fresh id on every login: no fixation); ``replaces`` ends the old one. Returns the id."""
    session_id, now = new_secret(), utcnow()
    with db.transaction() as session:
        if replaces is not None:
            session.execute(sa.delete(StaffSession).where(StaffSession.id_hash == digest(replaces)))
        # sweep what expired (indexed), so visitors who never log in leave no rows behind
        session.execute(sa.delete(StaffSession).where(StaffSession.expires_at <= now))
        session.add(StaffSession(id_hash=digest(session_id), login=login, staff_id=staff_id, data=data,
                                 created_at=now, last_seen_at=now, expires_at=now + lifetime))
    return session_id


def update(session_id: str, data: dict[str, Any]) -> bool:
    """Store the session's data; False when the row is gone (ended meanwhile)."""
    with db.transaction() as session:
        result = session.execute(sa.update(StaffSession).where(StaffSession.id_hash == digest(session_id))
                                 .values(data=data, last_seen_at=utcnow()))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def end(session_id: str) -> None:
    """Logout: the row goes, so every copy of the cookie is refused from now on."""
    with db.transaction() as session:
        session.execute(sa.delete(StaffSession).where(StaffSession.id_hash == digest(session_id)))
