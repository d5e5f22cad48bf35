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

from app.delivery.backoff import MAX_ATTEMPTS, gives_up
from app.delivery.grouping import Item
from app.delivery.outcomes import SendSummary
from app.dialect import among, is_postgres
from app.errors import NotFound
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
from app.services.definitions import definition_for

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Items ready to group and send; ``sendable`` their ids; who is skipped rather than held on no quota."""

    items: list[Item] = field(default_factory=list)
    sendable: set[int] = field(default_factory=set)
    skip_on_no_quota: set[int] = field(default_factory=set)
    release: dict[str, list[int]] = field(default_factory=dict)  # channel -> skipped rows holding quota


def _select(now: datetime) -> Any:
    return (
        sa.select(Delivery, Friend.user_id, Friend.status.label("friend_status"), Friend.opted_out,
                  Friend.display_name, Friend.attributes)
        .join(Friend, Friend.id == Delivery.friend_id)
        .where(Delivery.status.in_((DELIVERY_QUEUED, DELIVERY_SENDING)),
               sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))
        .order_by(Delivery.id)
    )


def lock_sendable(session: Session, delivery_ids: Sequence[int], now: datetime) -> list[Any]:
    """Lock the named deliveries that are due, plus the other open members of their multicast groups.

    A multicast group is taken whole or not at all — every open member due and held by us (on
    PostgreSQL rows another sender holds are skipped) — so a retry key never travels with fewer
    members now and the others later: LINE would answer those 409 and they would never arrive.
    """
    postgres = is_postgres(session)

    def locked(statement: Any) -> Any:
        return statement.with_for_update(skip_locked=True, of=Delivery) if postgres else statement

    rows = list(session.execute(locked(_select(now).where(among(session, Delivery.id, delivery_ids)))))
    groups = {r.Delivery.request_key for r in rows
              if r.Delivery.request_key and r.Delivery.request_key != r.Delivery.retry_key}
    if not groups:
        return rows
    taken = {r.Delivery.id for r in rows}
    extra = session.execute(locked(_select(now).where(among(session, Delivery.request_key, list(groups)))))
    rows.extend(r for r in extra if r.Delivery.id not in taken)
    open_members = (  # due or not: a member still waiting keeps its whole group waiting
        sa.select(Delivery.request_key, sa.func.count())
        .where(among(session, Delivery.request_key, list(groups)),
               Delivery.status.in_((DELIVERY_QUEUED, DELIVERY_SENDING, DELIVERY_HELD)))
        .group_by(Delivery.request_key)
    )
    totals = {key: count for key, count in session.execute(open_members).all()}
    have = Counter(r.Delivery.request_key for r in rows)
    partial = {key for key in groups if have[key] < totals.get(key, 0)}
    return [r for r in rows if r.Delivery.request_key not in partial]


def _skip_reason(row: Any, respect_opt_out: bool) -> str | None:
    if row.friend_status == "blocked":
        return "friend blocked the account"
    if row.opted_out and respect_opt_out and not row.Delivery.is_test:
        return "friend opted out"
    return None


Rendered = tuple[list[dict[str, Any]], str]  # LINE message objects and their content key


class _Renderer:
    """Rendered messages and their content key, computed once per step for the whole batch when
    the step has no variables (hundreds of rows then share one render and one sha256)."""

    def __init__(self) -> None:
        self._shared: dict[tuple[str, int, str], Rendered | None] = {}

    def get(self, delivery: Delivery, step: StepDef, row: Any) -> Rendered:
        key = (delivery.scenario_id, delivery.scenario_version, delivery.step_id)
        if key not in self._shared:
            self._shared[key] = None if uses_variables(step.messages) else self._render(step, None, {})
        shared = self._shared[key]
        if shared is not None:
            return shared
        return self._render(step, row.display_name, row.attributes or {})

    @staticmethod
    def _render(step: StepDef, display_name: str | None, attributes: dict[str, Any]) -> Rendered:
        messages = render_messages(step.messages, display_name=display_name, attributes=attributes)
        return messages, content_key(messages)


def prepare_items(session: Session, rows: list[Any], now: datetime, summary: SendSummary) -> Prepared:
    """Render what can be sent; mark skipped (blocked, opted out) and failed (gave up, step gone) rows."""
    prepared = Prepared()
    rendered = _Renderer()
    for row in rows:
        delivery: Delivery = row.Delivery
        try:
            scn = definition_for(session, delivery.scenario_id, delivery.scenario_version)
            step = scn.steps[scn.step_index(delivery.step_id)]
        except (KeyError, NotFound):
            _finish(delivery, DELIVERY_FAILED, f"step {delivery.step_id!r} is not in version "
                                               f"{delivery.scenario_version} of {delivery.scenario_id!r}")
            summary.failed += 1
            continue
        reason = _skip_reason(row, scn.respect_opt_out)
        if reason:
            _finish(delivery, DELIVERY_SKIPPED, reason)
            summary.skipped += 1
            if delivery.quota_reserved:
                prepared.release.setdefault(delivery.channel, []).append(delivery.id)
            continue
        if gives_up(delivery.attempts):
            _finish(delivery, DELIVERY_FAILED, f"gave up after {MAX_ATTEMPTS} attempts: {delivery.error or ''}")
            summary.failed += 1
            continue
        messages, key = rendered.get(delivery, step, row)
        prepared.items.append(Item(delivery.id, delivery.retry_key, delivery.request_key, row.user_id,
                                   delivery.channel, delivery.priority, messages, key,
                                   delivery.quota_reserved, delivery.attempts))
        prepared.sendable.add(delivery.id)
        if scn.on_quota_exhausted == "skip":
            prepared.skip_on_no_quota.add(delivery.id)
    if summary.skipped or summary.failed:
        log.info("send batch: %d skipped, %d failed before sending", summary.skipped, summary.failed)
    return prepared


def _finish(delivery: Delivery, status: str, error: str) -> None:
    delivery.status, delivery.error, delivery.next_attempt_at = status, error[:1000], None
