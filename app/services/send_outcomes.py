"""Transaction C of the sender: what LINE answered becomes each delivery's status, in bulk.

Only rows still ``sending`` change: a block that cancelled a row meanwhile keeps it cancelled
(LINE delivers nothing to a friend who blocked the account anyway).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery import progress
from app.delivery.attempts import Attempt, SendSummary
from app.delivery.backoff import backoff_delay
from app.delivery.grouping import Request
from app.dialect import among, still, table_of
from app.extensions import db
from app.line.client import Outcome, SendResult
from app.models.delivery import (
    DELIVERY_FAILED,
    DELIVERY_HELD,
    DELIVERY_SENDING,
    DELIVERY_SENT,
    DELIVERY_SKIPPED,
    Delivery,
)
from app.quota import tracker

log = logging.getLogger(__name__)
NO_QUOTA = "monthly message quota exhausted"


def _update(changes: dict[str, Any], params: list[dict[str, Any]], *, settled_at: datetime | None = None) -> None:
    """UPDATE deliveries SET ``changes`` WHERE id = :d_id AND still sending, for every params row;
    with ``settled_at`` the rows reached a final state and their enrollments' next steps get timed."""
    if not params:
        return
    with db.transaction() as session:
        _execute_each(session, changes, params)
        if settled_at is not None:
            progress.settle(session, [p["d_id"] for p in params], settled_at)


def _execute_each(session: Session, changes: dict[str, Any], params: list[dict[str, Any]]) -> None:
    table = table_of(Delivery)
    statement = (sa.update(table)
                 .where(table.c.id == sa.bindparam("d_id"), table.c.status == DELIVERY_SENDING)
                 .values(changes))
    session.execute(statement, params)


def _record_sent(accepted: list[Attempt], now: datetime) -> None:
    """Mark accepted requests ``sent`` and count them on the day, in one transaction: a multicast's
    members share LINE's request id, so each multicast is one ``id = ANY(...)`` UPDATE instead of
    one statement per member; pushes (one member, own request id) stay one executemany. The day's
    counter goes last: its row stays locked (other workers wait) only for the commit."""
    if not accepted:
        return
    table = table_of(Delivery)
    pushes: list[dict[str, Any]] = []
    with db.transaction() as session:
        for attempt in accepted:
            members = attempt.request.delivery_ids
            if len(members) == 1:
                pushes.append({"d_id": members[0], "rid": attempt.result.request_id})
                continue
            session.execute(sa.update(table)
                            .where(among(session, table.c.id, members), still(table.c.status, DELIVERY_SENDING))
                            .values(_sent_changes(now, attempt.result.request_id)))
        if pushes:
            _execute_each(session, _sent_changes(now, sa.bindparam("rid")), pushes)
        progress.settle_known(session, [progress.Settled(*item.position, now)
                                        for attempt in accepted for item in attempt.request.items], now)
        sent_by_channel: dict[str, int] = defaultdict(int)
        for attempt in accepted:
            sent_by_channel[attempt.request.channel] += len(attempt.request.items)
        for channel, count in sent_by_channel.items():
            tracker.record_sent(session, channel, count, now)


def _sent_changes(now: datetime, request_id: Any) -> dict[str, Any]:
    return {"status": DELIVERY_SENT, "sent_at": now, "line_request_id": request_id, "error": None,
            "next_attempt_at": None}


def _error(result: SendResult) -> str:
    text = f"LINE {result.status or 'no answer'}: {result.message or result.outcome}"
    return text[:1000]


def record(attempts: Iterable[Attempt], now: datetime, summary: SendSummary, skip_on_no_quota: set[int]) -> None:
    """Store every attempt's outcome, then settle quota (count sent, give back what did not go out)."""
    accepted: list[Attempt] = []
    retry: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    refunds: dict[str, list[int]] = defaultdict(list)
    exhausted: list[Attempt] = []
    for attempt in attempts:
        request, result = attempt.request, attempt.result
        summary.requests += 1
        if result.outcome is Outcome.ACCEPTED:
            accepted.append(attempt)
            summary.sent += len(request.items)
        elif result.outcome in (Outcome.RATE_LIMITED, Outcome.TRANSIENT):
            # one wait for the whole request: a multicast group must come due again as one
            wait = backoff_delay(max(item.attempts for item in request.items) + 1, retry_after=result.retry_after)
            retry.extend({"d_id": item.delivery_id, "next_at": now + wait, "err": _error(result)}
                         for item in request.items)
        elif result.outcome is Outcome.QUOTA_EXHAUSTED:
            exhausted.append(attempt)
        else:
            failed.extend({"d_id": i, "err": _error(result)} for i in request.delivery_ids)
            refunds[request.channel].extend(request.delivery_ids)
    _record_sent(accepted, now)
    _update({"next_attempt_at": sa.bindparam("next_at"), "error": sa.bindparam("err")}, retry)
    _update({"status": DELIVERY_FAILED, "error": sa.bindparam("err"), "next_attempt_at": None}, failed,
            settled_at=now)
    summary.retrying += len(retry)
    summary.failed += len(failed)
    if retry:
        log.warning("send batch: %d deliveries will be retried with the same retry key", len(retry))
    if exhausted:
        no_quota([a.request for a in exhausted], skip_on_no_quota, now, summary, reason=_error(exhausted[0].result))
        for channel in dict.fromkeys(a.request.channel for a in exhausted):
            with db.transaction() as session:
                tracker.mark_exhausted(session, channel, now)
        for attempt in exhausted:
            refunds[attempt.request.channel].extend(attempt.request.delivery_ids)
    release(refunds, now)


def no_quota(requests: Iterable[Request], skip_on_no_quota: set[int], now: datetime, summary: SendSummary,
             *, reason: str = NO_QUOTA, line_called: bool = True) -> None:
    """Requests that cannot go out this month: held until quota returns, or skipped per the scenario.

    When our own reservation refused them, LINE was never called: the attempt is not counted, so
    a row held for weeks does not run out of attempts.
    """
    held: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for request in requests:
        for item in request.items:
            (skipped if item.delivery_id in skip_on_no_quota else held).append({"d_id": item.delivery_id})
    changes: dict[str, Any] = {"error": reason, "next_attempt_at": None}
    if not line_called:
        changes["attempts"] = table_of(Delivery).c.attempts - 1
    _update({**changes, "status": DELIVERY_HELD}, held)
    _update({**changes, "status": DELIVERY_SKIPPED}, skipped, settled_at=now)
    summary.held += len(held)
    summary.skipped += len(skipped)
    if held or skipped:
        log.warning("quota short: %d deliveries held, %d skipped", len(held), len(skipped))


def release_cancelled(requests: Iterable[Request], still_sending: set[int], now: datetime) -> None:
    """Give back the quota reserved for members cancelled (blocked) since the plan was made."""
    by_channel: dict[str, list[int]] = defaultdict(list)
    for request in requests:
        by_channel[request.channel].extend(i for i in request.delivery_ids if i not in still_sending)
    release(by_channel, now)


def release(ids_by_channel: dict[str, list[int]], now: datetime) -> None:
    """Give back the reservations of these deliveries, one short transaction per channel (only
    rows still flagged count: releasing twice gives back once)."""
    for channel, ids in ids_by_channel.items():
        if ids:
            with db.transaction() as session:
                tracker.release(session, channel, len(ids), now, delivery_ids=ids)
