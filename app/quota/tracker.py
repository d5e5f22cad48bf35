"""The monthly quota ledger: reserve before a push, release on failure, reconcile with LINE.

Usage of a month = ``reserved`` (our pushes, reserved before sending and kept once sent) +
``external`` (what LINE counted beyond ours, e.g. OA Manager broadcasts). A reservation is one
conditional UPDATE, so concurrent workers can never push the month past its limit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.dialect import among, insert_for, table_of
from app.models.delivery import DELIVERY_SENT, Delivery
from app.models.quota import QuotaDay, QuotaMonth
from app.quota.alerts import active_alerts, check_alerts
from app.quota.months import day_key, month_bounds, month_key
from app.quota.usage import percent_of, quota_config, reached_thresholds, remaining_of, used_of

log = logging.getLogger("stepline.quota")


class QuotaSource(Protocol):
    """What :func:`sync` needs from the LINE client."""

    def quota_limit(self) -> int | None: ...

    def consumption(self) -> int: ...


@dataclass(frozen=True)
class QuotaStatus:
    """One channel's month as the dashboard and the API show it."""

    month: str
    limit: int | None
    used: int
    reserved: int
    external: int
    remaining: int | None
    percent: float | None
    exhausted: bool
    alerts: list[str] = field(default_factory=list)
    channel: str = ""
    synced_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["synced_at"] = self.synced_at.isoformat() if self.synced_at else None
        return data


def reserve(session: Session, channel: str, count: int, now: datetime, *,
            delivery_ids: Sequence[int] = ()) -> bool:
    """Take ``count`` messages from this month's quota; False if they don't fit.

    The deliveries named are flagged ``quota_reserved`` in the same transaction, so a crash can
    never leave a reservation without the rows that own it. The sender reserves in the
    transaction that marks its rows ``sending`` (setting ``quota_reserved`` in that same UPDATE),
    so each row is written once instead of twice; the month row stays locked until that
    transaction ends, so reserve last, just before the commit.
    """
    if count <= 0:
        return True
    month = month_key(now, quota_config().timezone)
    row = _try_reserve(session, channel, month, count)
    if row is None:  # no row yet, or it did not fit: retry once the row surely exists (and is visible)
        ensure_month(session, channel, now)
        row = _try_reserve(session, channel, month, count)
    if row is None:
        return False
    if delivery_ids:
        _flag_reserved(session, delivery_ids, True)
    used = used_of(row.reserved, row.external, row.limit, False)
    fired = active_alerts(row.alert_80_at, row.alert_100_at)
    if any(str(t) not in fired for t in reached_thresholds(used, row.limit)):
        check_alerts(session, channel, now)
    return True


def release(session: Session, channel: str, count: int, now: datetime, *, delivery_ids: Sequence[int] = ()) -> int:
    """Give back the reservation of a push that did not go out; returns how many were released.

    With ``delivery_ids`` only the rows still flagged ``quota_reserved`` count, so releasing the
    same deliveries twice gives the quota back once.
    """
    if delivery_ids:
        count = _flag_reserved(session, delivery_ids, False)
    if count <= 0:
        return 0
    month = month_key(now, quota_config().timezone)
    session.execute(
        sa.update(QuotaMonth)
        .where(QuotaMonth.channel == channel, QuotaMonth.month == month)
        .values(reserved=sa.case((QuotaMonth.reserved >= count, QuotaMonth.reserved - count), else_=0))
        .execution_options(synchronize_session=False)
    )
    return count


def mark_exhausted(session: Session, channel: str, now: datetime) -> None:
    """LINE answered "monthly limit reached": nothing more fits until the month or the limit changes."""
    ensure_month(session, channel, now)
    month = month_key(now, quota_config().timezone)
    row = _locked_month(session, channel, month)
    if not row.exhausted:
        log.warning("quota exhausted: LINE refused pushes on channel %s for %s", channel, month)
    row.exhausted = True
    if row.limit is not None:  # LINE counts more than we know of: the rest is external usage
        row.external = max(row.external, row.limit - row.reserved)
    session.flush()
    check_alerts(session, channel, now)


def record_sent(session: Session, channel: str, count: int, now: datetime) -> None:
    """Count messages that went out on the local day of ``now`` (the month-to-date chart)."""
    if count <= 0:
        return
    day = day_key(now, quota_config().timezone)
    session.execute(_count_sent(insert_for(session)), {"q_channel": channel, "q_day": day, "q_count": count})


@lru_cache(maxsize=4)
def _count_sent(insert: Any) -> Any:
    """The day's upsert, built once per dialect (every send batch runs it: building it cost more
    than running it)."""
    days = table_of(QuotaDay)
    statement = insert(days).values(channel=sa.bindparam("q_channel"), day=sa.bindparam("q_day"),
                                    sent=sa.bindparam("q_count"))
    return statement.on_conflict_do_update(index_elements=["channel", "day"],
                                           set_={"sent": days.c.sent + statement.excluded.sent})


@dataclass(frozen=True)
class LineQuota:
    """What LINE said of a channel's month: each figure with whether LINE answered at all."""

    limit_known: bool
    limit: int | None
    consumption_known: bool
    consumption: int | None


def ask_line(channel: str, client: QuotaSource) -> LineQuota:
    """LINE's quota and consumption (no database work: nothing is locked while LINE answers)."""
    limit_known, limit = _ask(channel, "quota", client.quota_limit)
    consumption_known, consumption = _ask(channel, "consumption", client.consumption)
    return LineQuota(limit_known, limit, consumption_known, consumption)


def reconcile(session: Session, channel: str, line: LineQuota, now: datetime) -> QuotaStatus:
    """Reconcile with LINE: its limit wins; usage becomes in-flight + max(LINE's totalUsage, our sent).

    ``external = max(0, totalUsage - sent)`` where ``sent`` is the part of ``reserved`` that already
    went out: LINE's count covers those, while reservations still in flight are counted once (in
    ``reserved``). ``exhausted`` clears only when the limit was raised above the usage.
    """
    limit_known, limit = line.limit_known, line.limit
    consumption_known, consumption = line.consumption_known, line.consumption
    ensure_month(session, channel, now)
    month = month_key(now, quota_config().timezone)
    row = _locked_month(session, channel, month)
    old_limit = row.limit
    if limit_known:
        row.limit = limit
    if consumption_known and consumption is not None:
        row.external = max(0, int(consumption) - sent_this_month(session, channel, now, row.reserved))
    if row.exhausted:
        raised = limit_known and (row.limit is None or (old_limit is not None and row.limit > old_limit))
        if raised and (row.limit is None or row.limit > row.reserved + row.external):
            row.exhausted = False
            log.info("quota on channel %s raised to %s: pushes resume", channel, row.limit)
        elif row.limit is not None:
            row.external = max(row.external, row.limit - row.reserved)
    if limit_known or consumption_known:
        row.synced_at = now
    session.flush()
    check_alerts(session, channel, now)
    return status(session, channel, now)


def status(session: Session, channel: str, now: datetime) -> QuotaStatus:
    """This month's quota for ``channel`` (a month nobody used yet shows its would-be limit)."""
    month = month_key(now, quota_config().timezone)
    row = session.execute(
        sa.select(QuotaMonth).where(QuotaMonth.channel == channel, QuotaMonth.month == month)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if row is None:
        limit = default_limit(session, channel, month)
        return QuotaStatus(month, limit, 0, 0, 0, remaining_of(0, limit, False), percent_of(0, limit), False,
                           [], channel, None)
    used = used_of(row.reserved, row.external, row.limit, row.exhausted)
    return QuotaStatus(
        month, row.limit, used, row.reserved, row.external, remaining_of(used, row.limit, row.exhausted),
        percent_of(used, row.limit), row.exhausted, active_alerts(row.alert_80_at, row.alert_100_at),
        channel, row.synced_at,
    )


def sent_this_month(session: Session, channel: str, now: datetime, reserved: int) -> int:
    """How much of ``reserved`` already went out this month (never more than ``reserved``).

    Two records of the same fact: the daily counter (``record_sent``) and the delivery rows that
    held a reservation and are sent; the larger wins so a missed counter update is harmless.
    """
    config = quota_config()
    month = month_key(now, config.timezone)
    start, end = month_bounds(now, config.timezone)
    by_day = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(QuotaDay.sent), 0))
                            .where(QuotaDay.channel == channel, QuotaDay.day.startswith(f"{month}-")))
    by_rows = session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
        Delivery.channel == channel, Delivery.quota_reserved.is_(True), Delivery.status == DELIVERY_SENT,
        Delivery.sent_at >= start, Delivery.sent_at < end))
    return min(reserved, max(int(by_day or 0), int(by_rows or 0)))


def ensure_month(session: Session, channel: str, now: datetime) -> bool:
    """Create this month's row if missing (a new month starts fresh); True if it was created."""
    month = month_key(now, quota_config().timezone)
    limit = default_limit(session, channel, month)
    insert = insert_for(session)(QuotaMonth).values(channel=channel, month=month, limit=limit, reserved=0,
                                                     external=0, exhausted=False)
    result = session.execute(insert.on_conflict_do_nothing(index_elements=["channel", "month"]))
    return bool(getattr(result, "rowcount", 0))


def default_limit(session: Session, channel: str, month: str) -> int | None:
    """A new month's limit: the last limit LINE told us, else the configured plan, else unlimited."""
    synced = session.execute(
        sa.select(QuotaMonth.limit)
        .where(QuotaMonth.channel == channel, QuotaMonth.month < month, QuotaMonth.synced_at.is_not(None))
        .order_by(QuotaMonth.month.desc()).limit(1)
    ).first()
    if synced is not None:
        return synced.limit
    return quota_config().plan_limit


def _reserve_statement() -> Any:
    months = table_of(QuotaMonth)
    count, limit = sa.bindparam("q_count", type_=sa.Integer), months.c["limit"]
    fits = sa.or_(limit.is_(None), months.c.reserved + months.c.external + count <= limit)
    return (
        sa.update(months)
        .where(months.c.channel == sa.bindparam("q_channel"), months.c.month == sa.bindparam("q_month"),
               months.c.exhausted.is_(False), fits)
        .values(reserved=months.c.reserved + count)
        .returning(months.c.reserved, months.c.external, limit, months.c.alert_80_at, months.c.alert_100_at)
    )


_RESERVE = _reserve_statement()  # built once: every send batch reserves, and building cost more than running


def _try_reserve(session: Session, channel: str, month: str, count: int) -> Any:
    return session.execute(_RESERVE, {"q_channel": channel, "q_month": month, "q_count": count}).first()


def _flag_reserved(session: Session, delivery_ids: Sequence[int], value: bool) -> int:
    result = session.execute(
        sa.update(Delivery)
        .where(among(session, Delivery.id, delivery_ids), Delivery.quota_reserved.is_(not value))
        .values(quota_reserved=value)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _locked_month(session: Session, channel: str, month: str) -> QuotaMonth:
    return session.execute(
        sa.select(QuotaMonth).where(QuotaMonth.channel == channel, QuotaMonth.month == month)
        .with_for_update().execution_options(populate_existing=True)
    ).scalar_one()


def _ask(channel: str, what: str, call: Any) -> tuple[bool, Any]:
    """LINE's answer, or (False, None) when the API is unavailable (the configured plan stays)."""
    try:
        return True, call()
    except Exception as exc:  # noqa: BLE001 - any failure means "LINE did not say"
        log.warning("quota sync: LINE %s API unavailable for channel %s (%s)", what, channel, type(exc).__name__)
        return False, None
