"""A friend's enrollments and recently sent steps, read once for a worker's batch of friends.

Every message a friend sends needs both: the enrollments decide which scenarios' rules answer
and which start dates move, the sent steps which step the message replies to. Read per message
they were three queries, each flushing the previous message's writes first; a batch of 50
friends' messages now pays two queries in all, and its writes go out in one flush at the end.

What :func:`prefetch` read belongs to one transaction and stands only while nothing else in it
changes the friend's enrollments: the writers that do (a new cycle, a block, a rule action other
than a reply) call :func:`forget`, and the friend's next read goes to the database again.
Without a prefetch every read goes to the database, so other transactions are unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import session_memo
from app.dialect import among
from app.models.delivery import DELIVERY_SENT, Delivery, Enrollment
from app.models.scenarios import Scenario

REPLY_WINDOW = timedelta(hours=24)  # a message replies to the steps sent in the 24 h before it
_MEMO_KEY = "friend_reads"


@dataclass(frozen=True)
class EnrollmentRead:
    """An enrollment with what the rule lookup needs of its scenario (None: the scenario is gone)."""

    enrollment: Enrollment
    scenario_status: str | None
    scenario_priority: int


@dataclass(frozen=True)
class SentStep:
    delivery_id: int
    scenario_id: str
    step_id: str
    sent_at: datetime


@dataclass
class _Known:
    enrollments: dict[int, list[EnrollmentRead]]
    sent: dict[int, list[SentStep]]
    sent_since: datetime


def prefetch(session: Session, friend_ids: Sequence[int], sent_since: datetime) -> None:
    """Read the friends' enrollments and the steps sent to them since ``sent_since`` (the oldest
    message's time less the reply window) for the rest of this transaction."""
    ids = sorted(set(friend_ids))
    enrollments = _enrollments(session, ids)
    sent: dict[int, list[SentStep]] = {friend_id: [] for friend_id in ids}
    for friend_id, step in _sent_steps(session, ids, sent_since):
        sent[friend_id].append(step)
    session_memo.put(session, _MEMO_KEY, _Known(enrollments, sent, sent_since))


def forget(session: Session, friend_id: int) -> None:
    """The friend's enrollments change in this transaction: read them from the database from now on."""
    known = _known(session)
    if known is not None:
        known.enrollments.pop(friend_id, None)


def enrollments_of(session: Session, friend_id: int) -> list[EnrollmentRead]:
    """Every enrollment of the friend (any cycle, any status), in no particular order."""
    known = _known(session)
    if known is not None and friend_id in known.enrollments:
        return known.enrollments[friend_id]
    return _enrollments(session, [friend_id])[friend_id]


def sent_steps(session: Session, friend_id: int, at: datetime) -> list[SentStep]:
    """The steps sent to the friend (not test sends) in the reply window before ``at``, newest first."""
    known = _known(session)
    since = at - REPLY_WINDOW
    if known is not None and friend_id in known.sent and since >= known.sent_since:
        candidates: Iterable[SentStep] = known.sent[friend_id]
    else:
        candidates = (step for _, step in _sent_steps(session, [friend_id], since))
    return [step for step in candidates if since <= step.sent_at <= at]


def _known(session: Session) -> _Known | None:
    known: _Known | None = session_memo.peek(session, _MEMO_KEY)
    return known


def _enrollments(session: Session, friend_ids: list[int]) -> dict[int, list[EnrollmentRead]]:
    found: dict[int, list[EnrollmentRead]] = {friend_id: [] for friend_id in friend_ids}
    rows = session.execute(
        sa.select(Enrollment, Scenario.status, Scenario.priority)
        .outerjoin(Scenario, Scenario.id == Enrollment.scenario_id)
        .where(among(session, Enrollment.friend_id, friend_ids))
    ).all()
    for enrollment, status, priority in rows:
        found[enrollment.friend_id].append(EnrollmentRead(enrollment, status, priority or 0))
    return found


def _sent_steps(session: Session, friend_ids: list[int], since: datetime) -> list[tuple[int, SentStep]]:
    rows: Any = session.execute(
        sa.select(Delivery.friend_id, Delivery.id, Delivery.scenario_id, Delivery.step_id, Delivery.sent_at)
        .where(among(session, Delivery.friend_id, friend_ids), Delivery.status == DELIVERY_SENT,
               Delivery.is_test.is_(False), Delivery.sent_at >= since)
    ).all()
    steps = [(row.friend_id, SentStep(row.id, row.scenario_id, row.step_id, row.sent_at)) for row in rows]
    steps.sort(key=lambda pair: (pair[1].sent_at, pair[1].delivery_id), reverse=True)
    return steps
