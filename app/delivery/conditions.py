"""Step conditions (``steps[].if``): checked when the step falls due, in the scheduler's claim.

Only the claimed rows whose step has a condition cost anything: one query per such
(scenario, version, step) group finds the friends who do not match (the filter compiled to SQL,
joined on the claimed enrollment ids), their outbox rows are settled as skipped with reason
``condition``, and the next step is timed as after any settled step. Rows of steps without a
condition pay one dictionary look-up each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.progress import settle
from app.dialect import among
from app.errors import NotFound
from app.friends.segments import segment_filters
from app.friends.sql import FRIENDS, compile_filter
from app.models.delivery import DELIVERY_QUEUED, DELIVERY_SKIPPED, Delivery, Enrollment
from app.scenarios.filters import FilterNode, segments_named
from app.scenarios.store import definition_for

SKIP_CONDITION = "condition"


def _condition_of(session: Session, scenario_id: str, version: int, step_id: str) -> FilterNode | None:
    try:
        scn = definition_for(session, scenario_id, version)
        return scn.steps[scn.step_index(step_id)].if_
    except (KeyError, NotFound):
        return None


def skip_unmet(session: Session, claimed: Sequence[Any], delivery_ids: Sequence[int], now: datetime) -> set[int]:
    """Settle as skipped the new outbox rows whose friend fails the step's condition; their ids."""
    known: dict[tuple[str, int, str], FilterNode | None] = {}
    groups: dict[tuple[str, int, str], list[int]] = defaultdict(list)
    for row in claimed:
        key = (row.scenario_id, row.scenario_version, row.next_step_id)
        if key not in known:
            known[key] = _condition_of(session, *key)
        if known[key] is not None:
            groups[key].append(row.id)
    if not groups:
        return set()
    dialect = session.get_bind().dialect.name
    definitions: dict[str, FilterNode] | None = None
    unmet: list[int] = []
    for key, enrollment_ids in groups.items():
        node = known[key]
        if definitions is None and segments_named(node):
            definitions = segment_filters(session)
        condition = compile_filter(dialect, node, now, definitions or {})
        unmet.extend(session.scalars(
            sa.select(Enrollment.id).join(FRIENDS, FRIENDS.c.id == Enrollment.friend_id)
            .where(among(session, Enrollment.id, enrollment_ids), sa.not_(condition))))
    if not unmet:
        return set()
    result = session.execute(
        sa.update(Delivery).where(among(session, Delivery.id, list(delivery_ids)),
                                  among(session, Delivery.enrollment_id, unmet), Delivery.status == DELIVERY_QUEUED)
        .values(status=DELIVERY_SKIPPED, error=SKIP_CONDITION)
        .returning(Delivery.id).execution_options(synchronize_session=False))
    skipped = set(result.scalars())
    if skipped:
        settle(session, sorted(skipped), now)
    return skipped
