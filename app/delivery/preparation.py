"""Transaction A of the sender: lock the deliveries still due, drop the unreachable, render the rest."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.config import bound_settings
from app.delivery.attempts import SendSummary
from app.delivery.backoff import MAX_ATTEMPTS, gives_up
from app.delivery.grouping import Item
from app.delivery.progress import Position
from app.dialect import among, is_postgres, plain_rows, plain_type, table_of
from app.errors import NotFound
from app.measure import versions
from app.measure.tracking import tracking_for
from app.models.delivery import (
    DELIVERY_FAILED,
    DELIVERY_HELD,
    DELIVERY_QUEUED,
    DELIVERY_SENDING,
    DELIVERY_SKIPPED,
    Delivery,
)
from app.models.friends import Friend
from app.scenarios.render import content_key, render_messages, uses_variables
from app.scenarios.schema import StepDef
from app.scenarios.store import definition_for

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Items ready to group and send; who is skipped rather than held on no quota."""

    items: list[Item] = field(default_factory=list)
    skip_on_no_quota: set[int] = field(default_factory=set)
    release: dict[str, list[int]] = field(default_factory=dict)  # channel -> skipped rows holding quota
    finished: list[dict[str, Any]] = field(default_factory=list)  # rows skipped or failed here

    def finish(self, delivery_id: int, status: str, error: str) -> None:
        """Settle a row that will not be sent (written in one statement for the batch)."""
        self.finished.append({"d_id": delivery_id, "new_status": status, "err": error[:1000]})

    @property
    def settled_ids(self) -> list[int]:
        return [row["d_id"] for row in self.finished]


_LOCKED_COLUMNS = (
    Delivery.id, Delivery.scenario_id, Delivery.scenario_version, Delivery.step_id, Delivery.channel,
    Delivery.priority, Delivery.retry_key, Delivery.request_key, Delivery.quota_reserved, Delivery.status,
    Delivery.attempts, Delivery.next_attempt_at, Delivery.error, Delivery.is_test, Delivery.enrollment_id,
    Delivery.cycle, Delivery.visit,
)


_FRIEND_COLUMNS = (Friend.id, Friend.user_id, Friend.status.label("friend_status"), Friend.opted_out)
_PROFILE_COLUMNS = (Friend.display_name, Friend.attributes)
_NO_PROFILE = (sa.null().label("display_name"), sa.null().label("attributes"))
_NO_FRIEND = (None,) * (len(_FRIEND_COLUMNS) - 1 + len(_PROFILE_COLUMNS))  # removed since the row was written


def _locking(session: Session, where: Any) -> list[Any]:
    """The deliveries matching ``where``, locked (PostgreSQL: those another sender holds skipped).

    Plain rows, not ORM entities: a batch of 500 loads in a fraction of the time.
    """
    statement = sa.select(*_LOCKED_COLUMNS, Delivery.friend_id).where(where).order_by(Delivery.id)
    if is_postgres(session):
        statement = statement.with_for_update(skip_locked=True)
    return plain_rows(session.execute(statement))


def _with_friends(session: Session, rows: list[Any]) -> list[Any]:
    """Each row extended with its friend's fields: two primary-key lookups joined here, because a
    SQL join hashes the whole friends table while statistics predate a burst of deliveries.

    Names and attributes are read only when a step of the batch renders them (the JSON decoding
    of every friend's attributes is a visible part of a multicast's cost)."""
    if not rows:
        return rows
    profile = _PROFILE_COLUMNS if _renders_profiles(session, rows) else _NO_PROFILE
    result = session.execute(sa.select(*_FRIEND_COLUMNS, *profile)
                             .where(among(session, Friend.id, list({row.friend_id for row in rows}))))
    fields = rows[0]._fields + tuple(result.keys())[1:]
    friends = {friend[0]: tuple(friend[1:]) for friend in result}
    joined = plain_type(fields)
    return [joined(*row, *friends.get(row.friend_id, _NO_FRIEND)) for row in rows]


def _renders_profiles(session: Session, rows: list[Any]) -> bool:
    """Whether a step of these rows uses variables (a name or an attribute of the friend)."""
    for scenario_id, version, step_id in {(row.scenario_id, row.scenario_version, row.step_id) for row in rows}:
        try:
            scn = definition_for(session, scenario_id, version)
            if uses_variables(scn.steps[scn.step_index(step_id)].messages):
                return True
        except (KeyError, NotFound):
            continue  # failed in prepare_items, profile or not
    return False


def _due(row: Any, now: datetime) -> bool:
    """Still to send and not waiting for a backoff or another sender's lease.

    Checked on the locked rows rather than in the WHERE: the rows are found by primary key (or
    request key) alone, so PostgreSQL cannot prefer a status index whose statistics predate a
    burst — that plan reads every open row of the outbox for each batch.
    """
    return row.status in (DELIVERY_QUEUED, DELIVERY_SENDING) and (
        row.next_attempt_at is None or row.next_attempt_at <= now)


def lock_sendable(session: Session, delivery_ids: Sequence[int], now: datetime) -> list[Any]:
    """Lock the named deliveries that are due, plus the other open members of their multicast groups.

    A multicast group is taken whole or not at all — every open member due and held by us (on
    PostgreSQL rows another sender holds are skipped) — so a retry key never travels with fewer
    members now and the others later: LINE would answer those 409 and they would never arrive.
    """
    rows = [r for r in _locking(session, among(session, Delivery.id, delivery_ids)) if _due(r, now)]
    groups = {r.request_key for r in rows if r.request_key and r.request_key != r.retry_key}
    if not groups:
        return _with_friends(session, rows)
    taken = {r.id for r in rows}
    extra = _locking(session, among(session, Delivery.request_key, list(groups)))
    rows.extend(r for r in extra if r.id not in taken and _due(r, now))
    open_members = (  # due or not: a member still waiting keeps its whole group waiting
        sa.select(Delivery.request_key, sa.func.count())
        .where(among(session, Delivery.request_key, list(groups)),
               Delivery.status.in_((DELIVERY_QUEUED, DELIVERY_SENDING, DELIVERY_HELD)))
        .group_by(Delivery.request_key)
    )
    totals = {key: count for key, count in session.execute(open_members).all()}
    have = Counter(r.request_key for r in rows)
    partial = {key for key in groups if have[key] < totals.get(key, 0)}
    return _with_friends(session, [r for r in rows if r.request_key not in partial])


def _skip_reason(row: Any, respect_opt_out: bool) -> str | None:
    if row.user_id is None:
        return "friend no longer exists"
    if row.friend_status == "blocked":
        return "friend blocked the account"
    if row.opted_out and respect_opt_out and not row.is_test:
        return "friend opted out"
    return None


Rendered = tuple[list[dict[str, Any]], str]  # LINE message objects and their content key


class _Renderer:
    """Rendered messages and their content key, computed once per step for the whole batch when
    the step has no variables (hundreds of rows then share one render and one sha256)."""

    def __init__(self) -> None:
        self._shared: dict[tuple[str, int, str], Rendered | None] = {}

    def get(self, step: StepDef, row: Any) -> Rendered:
        shared = self._shared_render(step, row)
        if shared is not None:
            return shared
        return self._render(step, row.display_name, row.attributes or {})

    def messages(self, step: StepDef, row: Any) -> list[dict[str, Any]]:
        """The rendered messages alone (a delivery with tracked links has a content key of its own)."""
        shared = self._shared_render(step, row)
        if shared is not None:
            return shared[0]
        return render_messages(step.messages, display_name=row.display_name, attributes=row.attributes or {})

    def _shared_render(self, step: StepDef, row: Any) -> Rendered | None:
        key = (row.scenario_id, row.scenario_version, row.step_id)
        if key not in self._shared:
            self._shared[key] = None if uses_variables(step.messages) else self._render(step, None, {})
        return self._shared[key]

    @staticmethod
    def _render(step: StepDef, display_name: str | None, attributes: dict[str, Any]) -> Rendered:
        messages = render_messages(step.messages, display_name=display_name, attributes=attributes)
        return messages, content_key(messages)


def prepare_items(session: Session, rows: list[Any], now: datetime, summary: SendSummary) -> Prepared:
    """Render what can be sent; mark skipped (blocked, opted out) and failed (gave up, step gone) rows."""
    prepared = Prepared()
    rendered = _Renderer()
    links = tracking_for(bound_settings())
    version_rows: dict[tuple[str, int], int] = {}
    for row in rows:
        try:
            scn = definition_for(session, row.scenario_id, row.scenario_version)
            step = scn.steps[scn.step_index(row.step_id)]
        except (KeyError, NotFound):
            prepared.finish(row.id, DELIVERY_FAILED, f"step {row.step_id!r} is not in version "
                                                     f"{row.scenario_version} of {row.scenario_id!r}")
            summary.failed += 1
            continue
        reason = _skip_reason(row, scn.respect_opt_out)
        if reason:
            prepared.finish(row.id, DELIVERY_SKIPPED, reason)
            summary.skipped += 1
            if row.quota_reserved:
                prepared.release.setdefault(row.channel, []).append(row.id)
            continue
        if gives_up(row.attempts):
            prepared.finish(row.id, DELIVERY_FAILED, f"gave up after {MAX_ATTEMPTS} attempts: {row.error or ''}")
            summary.failed += 1
            continue
        tracked = None
        if links.active and links.wants(scn, step):  # one URL per friend: out by push (own content key)
            version_key = (row.scenario_id, row.scenario_version)
            if version_key not in version_rows:
                version_rows[version_key] = versions.version_row(session, *version_key)
            tracked = links.apply(scn, row.scenario_version, version_rows[version_key], step, row.id,
                                  rendered.messages(step, row))
        messages, key = (tracked, f"tracked:{row.id}") if tracked is not None else rendered.get(step, row)
        position = Position(row.enrollment_id, row.step_id, row.cycle, row.visit)
        prepared.items.append(Item(row.id, row.retry_key, row.request_key, row.user_id, row.channel, row.priority,
                                   messages, key, position, row.quota_reserved, row.attempts))
        if scn.on_quota_exhausted == "skip":
            prepared.skip_on_no_quota.add(row.id)
    if prepared.finished:
        table = table_of(Delivery)
        session.execute(sa.update(table).where(table.c.id == sa.bindparam("d_id"))
                        .values(status=sa.bindparam("new_status"), error=sa.bindparam("err"), next_attempt_at=None),
                        prepared.finished)
        log.info("send batch: %d skipped, %d failed before sending", summary.skipped, summary.failed)
    return prepared
