"""Send a batch of outbox deliveries: lock & plan, reserve quota, pace, call LINE, record outcomes.

The retry key of every request is committed (``request_key``, status ``sending``) before LINE is
called, so a crash at any later point leaves rows the sweep resends with the same key — LINE
answers 409 for a request it already took, and the row becomes ``sent`` exactly once.

A ``sending`` row is leased to its worker: ``next_attempt_at`` is the lease's end, short
(``SENDING_LEASE``) and pushed ahead every ``RENEW_EVERY_SECONDS`` while the batch is still
calling LINE (one UPDATE for the whole batch, none for a batch shorter than that). A living
worker keeps its rows however long LINE takes; a dead one's rows come due within the lease.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.delivery import progress
from app.delivery.attempts import Attempt, SendSummary
from app.delivery.grouping import MULTICAST, Request, plan_requests
from app.delivery.preparation import lock_sendable, prepare_items
from app.delivery.ratelimit import RateLimiter
from app.dialect import among, still, table_of
from app.extensions import db, redis_handle
from app.line.client import LineClient, Outcome, SendResult
from app.models.base import utcnow
from app.models.delivery import DELIVERY_SENDING, Delivery
from app.quota import tracker
from app.services import send_outcomes as outcomes

log = logging.getLogger(__name__)

# a worker that holds rows ``sending`` renews their lease every RENEW_EVERY_SECONDS while it calls
# LINE; once it dies the lease lapses within SENDING_LEASE and the sweep (every 5 s) resends the
# rows with their keys: a crash delays the friends in flight by ~20 s at most, not 2 minutes
SENDING_LEASE = timedelta(seconds=15)
RENEW_EVERY_SECONDS = 4.0  # a renewal may be ~11 s late (a slow database write) before the lease lapses
THREADS = 64  # concurrent LINE calls per job: ≈ rate × LINE round trip (2,000/s × 30 ms) split over workers

ClientFor = Callable[[str], LineClient]
Clock = Callable[[], datetime]


def send_batch(client_for: ClientFor, delivery_ids: Sequence[int], now_fn: Clock = utcnow, *,
               limiter: RateLimiter | None = None, threads: int = THREADS) -> SendSummary:
    """Send the deliveries named (those still due); safe to run twice or concurrently for the same ids."""
    summary = SendSummary()
    lease = Lease(now_fn)
    requests, skip_on_no_quota = _plan(delivery_ids, now_fn(), summary)
    if not requests:
        return summary
    requests = _drop_cancelled(requests, now_fn())
    if not requests:
        return summary
    lease.hold([i for r in requests for i in r.delivery_ids])
    limiter = limiter or RateLimiter(redis_handle.client)
    attempts = _call_line(client_for, requests, limiter, threads, lease)
    outcomes.record(attempts, now_fn(), summary, skip_on_no_quota)
    return summary


def _plan(delivery_ids: Sequence[int], now: datetime, summary: SendSummary) -> tuple[list[Request], set[int]]:
    """Transaction A: lock the due rows, skip the unreachable, fix each request's key, mark ``sending``,
    reserve quota; the requests that may go out (those refused are held or skipped)."""
    with db.transaction() as session:
        rows = lock_sendable(session, delivery_ids, now)
        if not rows:
            return [], set()
        prepared = prepare_items(session, rows, now, summary)
        progress.settle(session, prepared.settled_ids, now)
        requests, refused = _reserve_quota(session, plan_requests(prepared.items), now)
        _mark_sending(session, requests, now)
        _mark_refused(session, refused, now)
    outcomes.release(prepared.release, now)
    if refused:
        outcomes.no_quota(refused, prepared.skip_on_no_quota, now, summary, line_called=False)
    return requests, prepared.skip_on_no_quota


def _mark_sending(session: Session, requests: list[Request], now: datetime) -> None:
    """Fix each request's key on its rows and mark them ``sending`` and ``quota_reserved`` (the
    quota is already reserved): one UPDATE per multicast request (its key written with the status,
    so each row gets one new version, not three), then one for every push (a push's key is the
    row's own retry key, or the one it carries)."""
    table = table_of(Delivery)
    sending = {"status": DELIVERY_SENDING, "attempts": table.c.attempts + 1, "next_attempt_at": now + SENDING_LEASE,
               "quota_reserved": True}
    pushes: list[int] = []
    for request in requests:
        if request.kind == MULTICAST:
            session.execute(sa.update(table).where(among(session, table.c.id, request.delivery_ids))
                            .values(request_key=request.key, **sending))
        else:
            pushes.extend(request.delivery_ids)
    if pushes:
        session.execute(sa.update(table).where(among(session, table.c.id, pushes)).values(
            request_key=sa.func.coalesce(table.c.request_key, table.c.retry_key), **sending))


def _mark_refused(session: Session, refused: list[Request], now: datetime) -> None:
    """Rows the quota refused go through ``sending`` (keys untouched) so :func:`outcomes.no_quota`
    settles them like any other attempt: held or skipped, the attempt not counted."""
    ids = [delivery_id for request in refused for delivery_id in request.delivery_ids]
    if ids:
        table = table_of(Delivery)
        session.execute(sa.update(table).where(among(session, table.c.id, ids)).values(
            status=DELIVERY_SENDING, attempts=table.c.attempts + 1))


def _reserve_quota(session: Session, requests: list[Request], now: datetime) -> tuple[list[Request], list[Request]]:
    """Reserve the recipients of each request in transaction A, before any key is fixed on a row;
    (requests that go out, requests refused — held or skipped).

    When quota is short, higher priority requests go first, and a fresh multicast larger than what
    is left is split: as many recipients as fit go out now under a new key, the rest wait without
    one (a key that never reached LINE binds nobody), so no message of the allowance is left unused.
    """
    allowed: list[Request] = []
    refused: list[Request] = []
    for channel in dict.fromkeys(r.channel for r in requests):
        mine = [r for r in requests if r.channel == channel]
        if tracker.reserve(session, channel, sum(len(r.unreserved_ids) for r in mine), now):
            allowed.extend(mine)
            continue
        smallest_refused = sum(len(r.unreserved_ids) for r in mine) + 1
        for request in mine:  # already in priority order
            needed = len(request.unreserved_ids)
            if needed < smallest_refused and tracker.reserve(session, channel, needed, now):
                allowed.append(request)
                continue
            # once n messages did not fit, n or more will not either: no need to ask again
            smallest_refused = min(smallest_refused, needed)
            head = _fitting_part(session, request, now)
            if head is not None:
                allowed.append(head)
            if request.items:
                refused.append(request)
    allowed.sort(key=lambda r: -r.priority)
    return allowed, refused


def _fitting_part(session: Session, request: Request, now: datetime) -> Request | None:
    """Split off (and reserve) the recipients of a fresh multicast that still fit this month."""
    if request.kind != MULTICAST or any(item.request_key for item in request.items):
        return None  # a group LINE may have seen travels whole, with its key
    room = tracker.status(session, request.channel, now).remaining or 0
    take = min(room, len(request.items) - 1)
    if take <= 0 or not tracker.reserve(session, request.channel, take, now):
        return None
    head = Request(MULTICAST, str(uuid.uuid4()), request.channel, request.priority, request.messages,
                   request.items[:take])
    request.items = request.items[take:]
    return head


def _drop_cancelled(requests: list[Request], now: datetime) -> list[Request]:
    """Re-read statuses just before calling LINE: a block committed since transaction A wins."""
    ids = [i for r in requests for i in r.delivery_ids]
    with db.session() as session:
        still_sending = (among(session, Delivery.id, ids), still(Delivery.status, DELIVERY_SENDING))
        if session.scalar(sa.select(sa.func.count()).where(*still_sending)) == len(ids):
            return requests  # the usual case: a count travels back, not every id
        kept_ids = set(session.scalars(sa.select(Delivery.id).where(*still_sending)))
    outcomes.release_cancelled(requests, kept_ids, now)
    kept = []
    for request in requests:
        request.items = [item for item in request.items if item.delivery_id in kept_ids]
        if request.items:
            kept.append(request)
    return kept


class Lease:
    """This worker's hold on the rows it marked ``sending``: renewed while they are at LINE.

    The rows' ``next_attempt_at`` (their lease's end) is pushed ``SENDING_LEASE`` ahead once
    ``RENEW_EVERY_SECONDS`` have passed since the batch began (or since the last renewal): one
    UPDATE for the whole batch. Renewal stops before the outcomes are recorded, so a backoff
    written then is never overwritten. A failed renewal is logged, not fatal: should the lease
    lapse, a resend carries the same retry key and LINE answers 409.
    """

    def __init__(self, now_fn: Clock, every: float | None = None) -> None:
        self.now_fn = now_fn
        self.every = RENEW_EVERY_SECONDS if every is None else every
        self.renew_at = time.monotonic() + self.every  # the lease was written in transaction A, just after
        self.ids: list[int] = []
        self.renewals = 0

    def hold(self, delivery_ids: list[int]) -> None:
        self.ids = delivery_ids

    def seconds_left(self) -> float:
        """Until the next renewal is due."""
        return max(0.0, self.renew_at - time.monotonic())

    def renew_if_due(self) -> None:
        if not self.ids or time.monotonic() < self.renew_at:
            return
        self.renew_at = time.monotonic() + self.every
        try:
            with db.transaction() as session:
                table = table_of(Delivery)
                session.execute(sa.update(table)
                                .where(among(session, table.c.id, self.ids), still(table.c.status, DELIVERY_SENDING))
                                .values(next_attempt_at=self.now_fn() + SENDING_LEASE))
            self.renewals += 1
        except SQLAlchemyError as exc:
            log.warning("lease of %d sending deliveries not renewed (%s); a resend would repeat their keys",
                        len(self.ids), type(exc).__name__)


def _call_line(client_for: ClientFor, requests: list[Request], limiter: RateLimiter,
               threads: int, lease: Lease) -> list[Attempt]:
    start_at = time.monotonic()
    slots: dict[int, float] = {}
    for channel, kind in dict.fromkeys((r.channel, r.kind) for r in requests):
        mine = [i for i, r in enumerate(requests) if (r.channel, r.kind) == (channel, kind)]
        for index, delay in zip(mine, limiter.schedule(channel, kind, len(mine)), strict=True):
            slots[index] = start_at + delay

    def call(indexed: tuple[int, Request]) -> Attempt:
        index, request = indexed
        pause = slots[index] - time.monotonic()
        if pause > 0:
            limiter.sleep(pause)
        try:
            client = client_for(request.channel)
        except KeyError as exc:  # a channel without credentials: nothing to retry until an admin fixes it
            return Attempt(request, SendResult(Outcome.REJECTED, None, None, str(exc)[:300]))
        try:
            if request.kind == MULTICAST:
                result = client.multicast(request.user_ids, request.messages, retry_key=request.key)
            else:
                result = client.push(request.user_ids[0], request.messages, retry_key=request.key)
        except Exception as exc:  # noqa: BLE001 - an unexpected failure is retried like a network error
            log.exception("LINE %s for request %s raised", request.kind, request.key)
            result = SendResult(Outcome.TRANSIENT, None, None, f"{type(exc).__name__}: {exc}"[:300])
        return Attempt(request, result)

    if threads <= 1:  # one call at a time (tools, tests): renew between calls, each bounded by its timeout
        attempts: list[Attempt] = []
        for item in enumerate(requests):
            lease.renew_if_due()
            attempts.append(call(item))
        return attempts
    with ThreadPoolExecutor(max_workers=min(threads, len(requests)), thread_name_prefix="line-send") as pool:
        futures = [pool.submit(call, item) for item in enumerate(requests)]
        pending = set(futures)
        while pending:  # a batch done within RENEW_EVERY_SECONDS waits once and writes nothing
            done, pending = wait(pending, timeout=lease.seconds_left(), return_when=FIRST_EXCEPTION)
            if any(future.exception() is not None for future in done):
                break  # result() below raises it, as pool.map did
            if pending:
                lease.renew_if_due()
        return [future.result() for future in futures]
