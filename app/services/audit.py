"""The audit log: one row per write through any interface (SPEC §7), read newest first, pruned by age.

Retention: entries are kept until ``flask --app wsgi audit prune --older-than DAYS`` removes them;
run it with DAYS >= 365 (the command refuses less) so a year of history is always there.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db
from app.models.base import utcnow
from app.models.staff import AuditEntry

MIN_RETENTION_DAYS = 365
MAX_PAGE = 500
_SECRET_WORDS = ("password", "token", "secret", "invite_link")
_MAX_VALUE_CHARS = 200


def clean_details(details: dict[str, Any]) -> dict[str, Any]:
    """Short, secret-free details: keys naming a secret are dropped, long values cut."""
    cleaned: dict[str, Any] = {}
    for key, value in details.items():
        if any(word in key.lower() for word in _SECRET_WORDS):
            continue
        if isinstance(value, str) and len(value) > _MAX_VALUE_CHARS:
            value = value[:_MAX_VALUE_CHARS] + "…"
        elif not isinstance(value, str | int | float | bool | type(None)):
            value = str(value)[:_MAX_VALUE_CHARS]
        cleaned[str(key)[:64]] = value
    return cleaned


def add_entry(session: Session, actor: str, action: str, target: str | None = None,
              details: dict[str, Any] | None = None, source: str | None = None,
              at: datetime | None = None) -> AuditEntry:
    """Add an entry inside the caller's transaction (so the write and its record commit together)."""
    entry = AuditEntry(at=at or utcnow(), actor=actor[:254], action=action[:100],
                       target=target[:500] if target else None, details=clean_details(details or {}),
                       source=(source or None) and source[:64])
    session.add(entry)
    return entry


def record(actor: str, action: str, target: str | None = None, details: dict[str, Any] | None = None,
           source: str | None = None) -> None:
    """Record one write in its own transaction (after the HTTP request or CLI command succeeded)."""
    with db.transaction() as session:
        add_entry(session, actor, action, target, details, source)


def record_cli(action: str, target: str | None = None, **details: Any) -> None:
    """What every CLI write command calls once it succeeded: actor ``cli``."""
    record("cli", action, target, details)


def entries(limit: int = 100, actor: str | None = None, before_id: int | None = None) -> list[dict[str, Any]]:
    """Newest first; ``before_id`` pages back from an entry's id."""
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(min(limit, MAX_PAGE))
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    with db.session() as session:
        return [entry_dict(row) for row in session.scalars(query)]


def entry_dict(row: AuditEntry) -> dict[str, Any]:
    """The API shape (SPEC §7) plus the id (for paging) and the source address."""
    return {"id": row.id, "at": row.at.isoformat(), "actor": row.actor, "action": row.action,
            "target": row.target, "details": row.details, "source": row.source}


def prune(older_than_days: int, now: datetime | None = None) -> int:
    """Delete entries older than ``older_than_days`` (at least a year); returns how many went."""
    if older_than_days < MIN_RETENTION_DAYS:
        raise ValueError(f"audit entries are kept at least {MIN_RETENTION_DAYS} days")
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    with db.transaction() as session:
        result = session.execute(sa.delete(AuditEntry).where(AuditEntry.at < cutoff))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
