"""Handoffs: a rule hands a friend to staff; the bot's rule replies to that friend stop until staff
close it. Steps go on unless the handoff paused them (then they resume where they were)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.conversations import Handoff
from app.models.delivery import ENROLLMENT_ACTIVE, Enrollment
from app.models.friends import Friend


def open_handoff(session: Session, friend_id: int) -> Handoff | None:
    """The friend's open handoff, if any."""
    return session.scalars(sa.select(Handoff).where(Handoff.friend_id == friend_id,
                                                    Handoff.closed_at.is_(None))).first()


def waiting_friends(session: Session, friend_ids: list[int]) -> set[int]:
    """Which of these friends have an open handoff (one query for a worker's batch)."""
    if not friend_ids:
        return set()
    return set(session.scalars(sa.select(Handoff.friend_id).where(Handoff.friend_id.in_(friend_ids),
                                                                  Handoff.closed_at.is_(None))))


def handoff_state(session: Session, friend_id: int) -> dict[str, Any] | None:
    """The friend JSON's ``handoff`` field: None when the bot answers, else the open handoff."""
    handoff = open_handoff(session, friend_id)
    return None if handoff is None else state_dict(handoff)


def handoff_states(session: Session, friend_ids: list[int]) -> dict[int, dict[str, Any]]:
    """:func:`handoff_state` of many friends in one query: those with an open handoff, by friend id."""
    if not friend_ids:
        return {}
    return {h.friend_id: state_dict(h) for h in session.scalars(sa.select(Handoff).where(
        Handoff.friend_id.in_(friend_ids), Handoff.closed_at.is_(None)))}


def state_dict(handoff: Handoff) -> dict[str, Any]:
    return {"open": handoff.closed_at is None, "opened_at": handoff.opened_at.isoformat(), "note": handoff.note,
            "pause_steps": handoff.pause_steps, "source": handoff.source}


def open_for(session: Session, friend: Friend, *, note: str | None, pause_steps: bool, source: str,
             now: datetime) -> Handoff | None:
    """Open a handoff (None when one is already open: the friend is waiting already)."""
    if open_handoff(session, friend.id) is not None:
        return None
    handoff = Handoff(friend_id=friend.id, channel=friend.channel, note=note, pause_steps=pause_steps,
                      source=source, opened_at=now)
    try:
        with session.begin_nested():
            session.add(handoff)
            session.flush()
    except IntegrityError:  # opened by a concurrent transaction a moment ago
        return None
    if pause_steps:
        handoff.paused = _pause_steps(session, friend.id)
    return handoff


def _pause_steps(session: Session, friend_id: int) -> dict[str, Any]:
    """Hold every active enrollment's next step; remember when each was due."""
    rows = session.execute(sa.select(Enrollment.id, Enrollment.next_run_at).where(
        Enrollment.friend_id == friend_id, Enrollment.status == ENROLLMENT_ACTIVE,
        Enrollment.next_run_at.is_not(None)).with_for_update()).all()
    if rows:
        session.execute(sa.update(Enrollment).where(Enrollment.id.in_([r.id for r in rows]))
                        .values(next_run_at=None).execution_options(synchronize_session=False))
    return {str(r.id): r.next_run_at.isoformat() for r in rows if r.next_run_at is not None}


def close(session: Session, friend: Friend, *, staff: str, now: datetime) -> Handoff | None:
    """Give the friend back to the bot; paused steps resume (a time already past: at once)."""
    handoff = open_handoff(session, friend.id)
    if handoff is None:
        return None
    handoff.closed_at, handoff.closed_by = now, staff
    for enrollment_id, due in (handoff.paused or {}).items():
        due_at = max(datetime.fromisoformat(due), now)
        session.execute(sa.update(Enrollment).where(
            Enrollment.id == int(enrollment_id), Enrollment.status == ENROLLMENT_ACTIVE,
            Enrollment.next_run_at.is_(None), Enrollment.next_step_id.is_not(None))
            .values(next_run_at=due_at).execution_options(synchronize_session=False))
    return handoff


def open_handoffs(session: Session, limit: int = 500) -> list[tuple[Handoff, Friend]]:
    """Open handoffs, the longest waiting first."""
    rows = session.execute(sa.select(Handoff, Friend).join(Friend, Friend.id == Handoff.friend_id)
                           .where(Handoff.closed_at.is_(None)).order_by(Handoff.opened_at, Handoff.id)
                           .limit(limit)).all()
    return [(h, f) for h, f in rows]


def count_open(session: Session) -> int:
    """How many friends wait for staff (the dashboard badge, ``stepline_handoffs_open``)."""
    return int(session.scalar(sa.select(sa.func.count()).select_from(Handoff).where(Handoff.closed_at.is_(None)))
               or 0)
