"""Who enters which scenario when (SPEC §2 ``start``, ``filter``, ``frequency``, ``window``,
``on_refollow``, ``on_start_change``, ``respect_opt_out``).

Triggers and their callers:

- ``follow``: :func:`on_follow` (webhook events service).
- ``keyword``: :func:`on_keyword` (rules engine). A keyword-triggered scenario starts when a
  friend's text matches the scenario's own ``start.keywords`` under ``start.match`` (the schema
  requires them for ``trigger: keyword``); the scenario's ``rules`` stay for friends already in it.
- ``event:<name>``: :func:`on_named_event` (admin API ``POST /admin/api/events``).
- ``manual``: :func:`enroll_manual` (admin API / CLI); any scenario can be entered manually.
- ``audience: all`` on publish: :func:`app.delivery.audience.enroll_audience`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.delivery import friend_reads
from app.delivery.blocking import STOP_BLOCKED
from app.delivery.start_dates import field_drives_start, in_window, resolve_start
from app.errors import Conflict, NotFound
from app.friends.segments import friend_matches
from app.models.delivery import (
    DELIVERY_CANCELLED,
    DELIVERY_HELD,
    DELIVERY_QUEUED,
    ENROLLMENT_ACTIVE,
    ENROLLMENT_COMPLETED,
    ENROLLMENT_STOPPED,
    Delivery,
    Enrollment,
)
from app.models.friends import Friend, FriendTag
from app.models.scenarios import SCENARIO_LIVE, Scenario
from app.scenarios.matching import keyword_matches
from app.scenarios.schema import AtMostEvery, ScenarioDef
from app.scenarios.store import definition_for, live_scenarios
from app.scenarios.timeline import first_step, step_due
from app.session_memo import memo

log = logging.getLogger(__name__)

STOP_RESTARTED = "restarted"  # the start date changed and the scenario says on_start_change: restart


def friend_tags(session: Session, friend_id: int) -> set[str]:
    """The friend's tags (from ``friend_tags``)."""
    return set(session.scalars(sa.select(FriendTag.tag).where(FriendTag.friend_id == friend_id)))


def _latest(session: Session, friend_id: int, scenario_id: str) -> Enrollment | None:
    return session.scalars(
        sa.select(Enrollment)
        .where(Enrollment.friend_id == friend_id, Enrollment.scenario_id == scenario_id)
        .order_by(Enrollment.cycle.desc())
        .limit(1)
    ).first()


def _frequency_allows(scn: ScenarioDef, latest: Enrollment | None, now: datetime) -> bool:
    """May a new cycle start? Never while one is active; ``once`` never again; ``at_most_every`` after D."""
    if latest is None:
        return True
    if latest.status == ENROLLMENT_ACTIVE or scn.frequency == "once":
        return False
    if isinstance(scn.frequency, AtMostEvery):
        return latest.created_at + scn.frequency.at_most_every <= now
    return True  # every_time


def _start_for(friend: Friend, scn: ScenarioDef, trigger_time: datetime) -> datetime | None:
    return resolve_start(scn, followed_at=friend.followed_at, last_message_at=friend.last_message_at,
                         attributes=friend.attributes or {}, trigger_time=trigger_time)


def _insert(session: Session, enrollment: Enrollment) -> Enrollment | None:
    """Add under a savepoint: the partial unique index keeps one active enrollment per pair."""
    friend_reads.forget(session, enrollment.friend_id)
    try:
        with session.begin_nested():
            session.add(enrollment)
            session.flush()
    except IntegrityError:
        log.info("friend %s already active in scenario %s", enrollment.friend_id, enrollment.scenario_id)
        return None
    return enrollment


def _start_cycle(session: Session, friend: Friend, scenario: Scenario, scn: ScenarioDef, start: datetime,
                 cycle: int, now: datetime) -> Enrollment | None:
    first = first_step(scn, start)
    if first is None:
        return None
    step_id, due = first
    return _insert(session, Enrollment(
        friend_id=friend.id, scenario_id=scenario.id, scenario_version=scenario.version, cycle=cycle,
        status=ENROLLMENT_ACTIVE, start_at=start, next_step_id=step_id, next_run_at=due, created_at=now,
    ))


def enroll(session: Session, friend: Friend, scenario: Scenario, scn_def: ScenarioDef, *, trigger_time: datetime,
           now: datetime, source: str) -> Enrollment | None:
    """Start a new cycle for ``friend`` in a live ``scenario`` if every entry condition holds.

    Conditions: friend not blocked (nor opted out when ``respect_opt_out``), same channel, filter
    passes, a start date exists and lies in ``start.window``, ``frequency`` allows another cycle.
    The first step is due per the timeline even if that is already past (the scheduler sends it at once).
    """
    if scenario.status != SCENARIO_LIVE or friend.is_blocked or friend.channel != scenario.channel:
        return None
    if scn_def.respect_opt_out and friend.opted_out:
        return None
    if scn_def.filter is not None and not friend_matches(session, friend, scn_def.filter, now):
        return None
    start = _start_for(friend, scn_def, trigger_time)
    if start is None or not in_window(scn_def, start):
        return None
    latest = _latest(session, friend.id, scenario.id)
    if not _frequency_allows(scn_def, latest, now):
        return None
    enrollment = _start_cycle(session, friend, scenario, scn_def, start, (latest.cycle + 1) if latest else 1, now)
    if enrollment is not None:
        log.info("friend %s enrolled in %s cycle %s (%s)", friend.id, scenario.id, enrollment.cycle, source)
    return enrollment


def _resume(session: Session, enrollment: Enrollment, scenario: Scenario, now: datetime) -> None:
    """Reactivate a block-stopped enrollment at its step; a due time already past becomes now."""
    old = definition_for(session, scenario.id, enrollment.scenario_version)
    scn = definition_for(session, scenario.id, scenario.version)
    step_id = carry_over(old, scn, enrollment.next_step_id) if enrollment.next_step_id else None
    enrollment.scenario_version = scenario.version
    enrollment.stop_reason, enrollment.finished_at = None, None
    if step_id is None:
        enrollment.status, enrollment.finished_at, enrollment.next_step_id = ENROLLMENT_COMPLETED, now, None
        return
    due = step_due(scn, scn.step_index(step_id), enrollment.start_at, enrollment.last_step_at)
    enrollment.status, enrollment.next_step_id, enrollment.next_run_at = ENROLLMENT_ACTIVE, step_id, max(due, now)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a newer cycle is already active: leave the old one stopped
        session.expire(enrollment)


def _refollow(session: Session, friend: Friend, scenario: Scenario, scn: ScenarioDef, at: datetime,
              now: datetime) -> bool:
    """Apply ``on_refollow`` to a cycle the block stopped; False when there is none (plain follow then)."""
    latest = _latest(session, friend.id, scenario.id)
    if latest is None or latest.status != ENROLLMENT_STOPPED or latest.stop_reason != STOP_BLOCKED:
        return False
    if scn.start.on_refollow == "resume":
        _resume(session, latest, scenario, now)
    elif scn.start.on_refollow == "restart":
        start = _start_for(friend, scn, at)
        if start is not None and in_window(scn, start):
            _start_cycle(session, friend, scenario, scn, start, latest.cycle + 1, now)
    return True


def on_follow(session: Session, friend: Friend, *, at: datetime, is_new: bool, is_refollow: bool,
              now: datetime) -> list[Enrollment]:
    """A follow at ``at``: enroll into live ``trigger: follow`` scenarios of the friend's channel.

    ``audience: new`` scenarios take only friends who follow after the scenario was published.
    On a refollow, a cycle the block stopped follows the scenario's ``on_refollow`` instead.
    """
    started: list[Enrollment] = []
    for scenario, scn in live_scenarios(session, friend.channel, "follow"):
        if is_refollow and _refollow(session, friend, scenario, scn, at, now):
            continue
        if scn.start.audience == "new" and scenario.published_at is not None and at < scenario.published_at:
            continue
        enrollment = enroll(session, friend, scenario, scn, trigger_time=at, now=now,
                            source="refollow" if is_refollow else ("new follow" if is_new else "follow"))
        if enrollment is not None:
            started.append(enrollment)
    return started


def on_keyword(session: Session, friend: Friend, text: str, now: datetime) -> bool:
    """Enroll into live ``trigger: keyword`` scenarios whose ``start.keywords`` match ``text``."""
    entered = False
    # asked for every message no rule answered: once per transaction (a worker's batch shares it)
    started_by_keyword = memo(session, ("live_scenarios", friend.channel, "keyword"),
                              lambda: live_scenarios(session, friend.channel, "keyword"))
    for scenario, scn in started_by_keyword:
        keywords = scn.start.keywords or []
        if keywords and keyword_matches(keywords, scn.start.match, text):
            started = enroll(session, friend, scenario, scn, trigger_time=now, now=now, source="keyword")
            entered = entered or started is not None
    return entered


def on_named_event(session: Session, friend: Friend, name: str, now: datetime,
                   at: datetime | None = None) -> list[Enrollment]:
    """Enroll into live ``trigger: event:<name>`` scenarios; ``at`` (default now) is the trigger time."""
    started = []
    for scenario, scn in live_scenarios(session, friend.channel, f"event:{name}"):
        enrollment = enroll(session, friend, scenario, scn, trigger_time=at or now, now=now, source=f"event:{name}")
        if enrollment is not None:
            started.append(enrollment)
    return started


def _cancel_open_deliveries(session: Session, enrollment_id: int) -> None:
    session.execute(sa.update(Delivery).where(
        Delivery.enrollment_id == enrollment_id, Delivery.status.in_((DELIVERY_QUEUED, DELIVERY_HELD))
    ).values(status=DELIVERY_CANCELLED, error="cycle restarted: the start date changed"))


def on_start_field_changed(session: Session, friend: Friend, field: str, now: datetime) -> int:
    """The friend's ``field`` (a ``start.from`` value such as ``last_message_at`` or ``attribute:x``)
    changed: apply ``on_start_change`` to the active cycles counted from it; returns how many changed.

    restart = stop the cycle (cancelling its unsent deliveries) and start a new one from step 1;
    reschedule = recompute the current step's due time from the new start; ignore = nothing.
    """
    # runs for every message a friend sends (``last_message_at``) and every attribute written, and a
    # start driven by that field is rare: decide on the cached definitions and the enrollments a
    # worker's batch read once (app/delivery/friend_reads.py)
    active = [read.enrollment for read in friend_reads.enrollments_of(session, friend.id)
              if read.enrollment.status == ENROLLMENT_ACTIVE]
    changed = 0
    for enrollment in active:
        scn = definition_for(session, enrollment.scenario_id, enrollment.scenario_version)
        if not field_drives_start(scn, field) or scn.start.on_start_change == "ignore":
            continue
        scenario = session.get_one(Scenario, enrollment.scenario_id)
        start = _start_for(friend, scn, now)
        if start is None or start == enrollment.start_at:
            continue
        if scn.start.on_start_change == "reschedule":
            enrollment.start_at = start
            if enrollment.next_step_id is not None and enrollment.next_run_at is not None:
                enrollment.next_run_at = step_due(scn, scn.step_index(enrollment.next_step_id), start,
                                                  enrollment.last_step_at)
            changed += 1
            continue
        enrollment.status, enrollment.stop_reason = ENROLLMENT_STOPPED, STOP_RESTARTED
        enrollment.next_run_at, enrollment.finished_at = None, now
        _cancel_open_deliveries(session, enrollment.id)
        session.flush()
        current = definition_for(session, scenario.id, scenario.version)
        if in_window(current, start) and _start_cycle(session, friend, scenario, current, start,
                                                      enrollment.cycle + 1, now):
            changed += 1
    return changed


def enroll_manual(session: Session, scenario_id: str, user_ids: Iterable[str], now: datetime) -> int:
    """Enroll the named friends of the scenario's channel (unknown ids are skipped); returns how many entered."""
    scenario = session.get(Scenario, scenario_id)
    if scenario is None:
        raise NotFound(f"scenario {scenario_id!r} does not exist")
    if scenario.status != SCENARIO_LIVE:
        raise Conflict(f"scenario {scenario_id!r} is {scenario.status}: only live scenarios take friends")
    scn = definition_for(session, scenario.id, scenario.version)
    ids = list(dict.fromkeys(user_ids))
    entered = 0
    for offset in range(0, len(ids), 1000):
        friends = session.scalars(sa.select(Friend).where(
            Friend.channel == scenario.channel, Friend.user_id.in_(ids[offset:offset + 1000])))
        for friend in friends:
            entered += enroll(session, friend, scenario, scn, trigger_time=now, now=now, source="manual") is not None
    return entered


def carry_over(old: ScenarioDef, new: ScenarioDef, step_id: str) -> str | None:
    """Where a friend waiting for ``step_id`` of ``old`` stands in ``new``: the same step id if it
    still exists, else the first step of ``new`` after the last step that preceded it in ``old``
    and still exists (None: nothing is left, the cycle completes)."""
    new_ids = [step.id for step in new.steps]
    if step_id in new_ids:
        return step_id
    old_ids = [step.id for step in old.steps]
    before = old_ids[: old_ids.index(step_id)] if step_id in old_ids else []
    kept = [new_ids.index(s) for s in before if s in new_ids]
    index = max(kept) + 1 if kept else 0
    return new_ids[index] if index < len(new_ids) else None
