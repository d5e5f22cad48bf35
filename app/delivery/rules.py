"""Keyword / postback rules of the scenarios a friend is in and of the channel's rule sets, applied
inside the event's transaction.

Replies go back through the reply API with the event's token (free); nothing here pushes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.conversations import handoffs, richmenu_links
from app.conversations import log as conversation_log
from app.conversations.rulesets import live_rulesets
from app.delivery import enrollment as enrollments
from app.delivery import friend_reads, goals
from app.dialect import insert_for
from app.models.conversations import KIND_REPLY
from app.models.delivery import (
    DELIVERY_CANCELLED,
    DELIVERY_HELD,
    DELIVERY_QUEUED,
    ENROLLMENT_ACTIVE,
    ENROLLMENT_COMPLETED,
    ENROLLMENT_STOPPED,
    OPEN_DELIVERY_STATUSES,
    Delivery,
    Enrollment,
    GoalConversion,
    StepReply,
)
from app.models.friends import Friend, FriendTag
from app.models.scenarios import SCENARIO_LIVE, Scenario
from app.scenarios import schema as s
from app.scenarios.matching import match_rule
from app.scenarios.render import render_messages
from app.scenarios.store import definition_for

log = logging.getLogger(__name__)

STOP_KEYWORD = "keyword"


@dataclass
class Effects:
    """What a rule did that must reach LINE or staff after the commit (rich menu links, handoffs)."""

    handoffs_opened: list[int] = field(default_factory=list)
    rich_menus: list[str] = field(default_factory=list)  # menu ids to link; "default" unlinks


@dataclass(frozen=True)
class RuleSource:
    """Where a candidate rule comes from: a scenario the friend is in, or an account-wide rule set."""

    rules: list[s.RuleDef]
    enrollment: Enrollment | None = None
    scenario: s.ScenarioDef | None = None
    ruleset_id: str | None = None

    @property
    def label(self) -> str:
        return f"scenario:{self.enrollment.scenario_id}" if self.enrollment else f"ruleset:{self.ruleset_id}"


def answering_enrollments(session: Session, friend: Friend) -> list[Enrollment]:
    """The enrollments whose scenario's rules answer this friend: the latest cycle of each live
    scenario, active or completed (not stopped by a keyword or a block), highest priority first
    (ties: by scenario id)."""
    live = sorted((read for read in friend_reads.enrollments_of(session, friend.id)
                   if read.scenario_status == SCENARIO_LIVE),
                  key=lambda read: (-read.scenario_priority, read.enrollment.scenario_id, -read.enrollment.cycle))
    latest: dict[str, Enrollment] = {}
    for read in live:
        latest.setdefault(read.enrollment.scenario_id, read.enrollment)
    return [e for e in latest.values() if e.status in (ENROLLMENT_ACTIVE, ENROLLMENT_COMPLETED)]


def rule_sources(session: Session, friend: Friend) -> Iterator[RuleSource]:
    """Candidates in matching order: the friend's live scenarios, then the channel's live rule sets."""
    for enrollment in answering_enrollments(session, friend):
        scn = definition_for(session, enrollment.scenario_id, enrollment.scenario_version)
        if scn.rules:
            yield RuleSource(scn.rules, enrollment=enrollment, scenario=scn)
    for ruleset_id, ruleset in live_rulesets(session, friend.channel):
        yield RuleSource(ruleset.rules, ruleset_id=ruleset_id)


def _works_during_handoff(rule: s.RuleDef) -> bool:
    """A friend waiting for staff can still stop the scenario or opt out."""
    return any(isinstance(a, s.StopAction | s.OptOutAction) for a in rule.do)


def on_incoming(session: Session, friend: Friend, *, event_id: int, reply_token: str | None, text: str | None,
                postback: str | None, at: datetime, now: datetime,
                effects: Effects | None = None,
                logged: conversation_log.LogLine | None = None,
                waiting: bool | None = None) -> list[dict[str, Any]] | None:
    """Apply the first matching rule: the friend's live scenarios' rules (highest priority first),
    then the channel's live rule sets (highest priority first).

    While a handoff is open only rules that stop or opt out act. Without a match, a text may start
    a keyword-triggered scenario. Returns the rendered reply messages when there is a reply token
    to answer with, else None; the reply is logged and the token marked used. ``waiting``: whether
    the friend has an open handoff, when the caller already knows (None: look it up).
    """
    try:
        return _answer(session, friend, event_id=event_id, reply_token=reply_token, text=text, postback=postback,
                       at=at, now=now, effects=effects if effects is not None else Effects(), logged=logged,
                       waiting=waiting)
    finally:
        if logged is not None:
            conversation_log.keep(session, logged)


def _answer(session: Session, friend: Friend, *, event_id: int, reply_token: str | None, text: str | None,
            postback: str | None, at: datetime, now: datetime, effects: Effects,
            logged: conversation_log.LogLine | None, waiting: bool | None) -> list[dict[str, Any]] | None:
    if text is not None:
        record_step_reply(session, friend, event_id=event_id, at=at)
    if waiting is None:
        waiting = handoffs.open_handoff(session, friend.id) is not None
    for source in rule_sources(session, friend):
        rule = match_rule(source.rules, text=text, postback=postback)
        if rule is None:
            continue
        if waiting and not _works_during_handoff(rule):
            log.info("friend %s matched a rule of %s during a handoff: staff answer", friend.id, source.label)
            return None
        log.debug("friend %s matched a rule of %s", friend.id, source.label)  # the chat log keeps it
        reply = apply_actions(session, friend, source.enrollment, source.scenario, rule.do, at=at, now=now,
                              effects=effects, source=source.label)
        if reply and reply_token:
            if logged is not None:  # kept before the reply's row: the log keeps their order
                logged.token_used = True
                conversation_log.keep(session, logged)
            else:
                conversation_log.mark_token_used(session, event_id)
            conversation_log.log_outgoing(session, friend.id, KIND_REPLY, reply, at,
                                          scenario_id=source.enrollment.scenario_id if source.enrollment else None,
                                          ruleset_id=source.ruleset_id, event_id=event_id)
            return reply
        return None
    if text is not None:
        enrollments.on_keyword(session, friend, text, now)
    return None


def apply_actions(session: Session, friend: Friend, enrollment: Enrollment | None, scn: s.ScenarioDef | None,
                  actions: list[Any], *, at: datetime, now: datetime, effects: Effects | None = None,
                  source: str = "") -> list[dict[str, Any]] | None:
    """Run a rule's actions in order; the rendered reply, if the rule has one.

    A rule set's rule has no enrollment: its ``stop`` stops every active enrollment of the friend.
    """
    effects = effects if effects is not None else Effects()
    reply: list[dict[str, Any]] | None = None
    if any(not isinstance(action, s.ReplyAction) for action in actions):
        friend_reads.forget(session, friend.id)  # the actions may move the friend's enrollments
    for action in actions:
        if isinstance(action, s.ReplyAction):
            reply = render_messages(action.reply, display_name=friend.display_name, attributes=friend.attributes or {})
        elif isinstance(action, s.GotoAction):
            if enrollment is not None:
                goto(session, enrollment, action.goto, now)
        elif isinstance(action, s.StopAction):
            for target in [enrollment] if enrollment is not None else _active(session, friend):
                stop(session, target, now)
        elif isinstance(action, s.TagAction):
            add_tag(session, friend, action.tag, at=at, now=now)
        elif isinstance(action, s.UntagAction):
            session.execute(sa.delete(FriendTag).where(FriendTag.friend_id == friend.id, FriendTag.tag == action.untag))
        elif isinstance(action, s.SetAction):
            _set_attributes(session, friend, action.set_, now)
        elif isinstance(action, s.EnrollAction):
            _enroll(session, friend, action.enroll, at=at, now=now)
        elif isinstance(action, s.GoalAction):
            if enrollment is not None and scn is not None:
                record_goal(session, enrollment, scn, action.goal, at)
        elif isinstance(action, s.OptOutAction):
            friend.opted_out = True
        elif isinstance(action, s.OptInAction):
            friend.opted_out = False
        elif isinstance(action, s.HandoffAction):
            options = action.options
            handoff = handoffs.open_for(session, friend, note=options.note, pause_steps=options.pause_steps,
                                        source=source, now=now)
            if handoff is not None:
                effects.handoffs_opened.append(handoff.id)
        elif isinstance(action, s.RichMenuAction):
            richmenu_links.link_in_db(session, friend.id, action.rich_menu, now)
            effects.rich_menus.append(action.rich_menu)
    return reply


def add_tag(session: Session, friend: Friend, tag: str, *, at: datetime, now: datetime) -> None:
    """Tag the friend; a newly added tag may reach ``{tag: T}`` goals."""
    added = session.execute(insert_for(session)(FriendTag).values(friend_id=friend.id, tag=tag, created_at=now)
                            .on_conflict_do_nothing(index_elements=["friend_id", "tag"])
                            .returning(FriendTag.tag)).first()
    if added is not None:
        goals.for_friend(session, friend.id, goals.TAG, tag, at)
def _active(session: Session, friend: Friend) -> list[Enrollment]:
    return list(session.scalars(sa.select(Enrollment).where(Enrollment.friend_id == friend.id,
                                                            Enrollment.status == ENROLLMENT_ACTIVE)))


def goto(session: Session, enrollment: Enrollment, step_id: str, now: datetime) -> None:
    """Jump to ``step_id`` as a new visit (it goes out even if it was sent before), due now — or,
    while the current step is still on its way (queued, retrying, held), as soon as that one
    settles (``app/delivery/progress.py``), so the target never reaches the friend before it.

    The enrollment row is locked first: a scheduler claiming it at this moment either committed
    its delivery before (and we see it in flight) or skips the row until this transaction ends.
    Only a delivery that settle would match counts (this cycle, the step last claimed), so the
    target can never wait on one that would not release it.
    """
    session.flush()
    session.refresh(enrollment, with_for_update=True)
    if enrollment.status == ENROLLMENT_COMPLETED:  # its rules still answer: a goto reopens it at that step
        enrollment.status, enrollment.finished_at = ENROLLMENT_ACTIVE, None
    if enrollment.status != ENROLLMENT_ACTIVE:
        return
    in_flight = session.scalar(sa.select(Delivery.id).where(
        Delivery.enrollment_id == enrollment.id, Delivery.cycle == enrollment.cycle,
        Delivery.step_id == enrollment.last_step_id, Delivery.visit <= enrollment.jumps,
        Delivery.status.in_(OPEN_DELIVERY_STATUSES)).limit(1))
    enrollment.next_step_id, enrollment.next_run_at = step_id, None if in_flight else now
    enrollment.jumps += 1


def stop(session: Session, enrollment: Enrollment, now: datetime, reason: str = STOP_KEYWORD) -> int:
    """Stop the cycle and cancel what it has not sent yet (rows already at LINE finish); how many."""
    if enrollment.status == ENROLLMENT_ACTIVE:
        enrollment.status, enrollment.stop_reason = ENROLLMENT_STOPPED, reason
        enrollment.next_run_at, enrollment.finished_at = None, now
    result = session.execute(
        sa.update(Delivery)
        .where(Delivery.enrollment_id == enrollment.id, Delivery.status.in_((DELIVERY_QUEUED, DELIVERY_HELD)))
        .values(status=DELIVERY_CANCELLED, error=f"enrollment stopped ({reason})")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _set_attributes(session: Session, friend: Friend, values: dict[str, Any], now: datetime) -> None:
    current = dict(friend.attributes or {})
    changed = [name for name, value in values.items() if current.get(name) != value]
    friend.attributes = {**current, **values}  # a new dict, so the JSON column is seen as changed
    for name in changed:
        enrollments.on_start_field_changed(session, friend, f"attribute:{name}", now)


def _enroll(session: Session, friend: Friend, scenario_id: str, *, at: datetime, now: datetime) -> None:
    scenario = session.get(Scenario, scenario_id)
    if scenario is None:
        log.warning("rule enrolls friend %s into missing scenario %s", friend.id, scenario_id)
        return
    scn = definition_for(session, scenario.id, scenario.version)
    enrollments.enroll(session, friend, scenario, scn, trigger_time=at, now=now, source="rule")


def record_goal(session: Session, enrollment: Enrollment, scn: s.ScenarioDef, goal_id: str, at: datetime) -> bool:
    """Count the goal once per cycle, if reached within its ``within`` of the cycle's start."""
    goal = next((g for g in scn.goals if g.id == goal_id), None)
    if goal is None or (goal.within is not None and at - enrollment.start_at > goal.within):
        return False
    result = session.execute(
        insert_for(session)(GoalConversion)
        .values(enrollment_id=enrollment.id, scenario_id=enrollment.scenario_id, goal_id=goal_id, converted_at=at)
        .on_conflict_do_nothing(index_elements=["enrollment_id", "goal_id"])
    )
    return bool(getattr(result, "rowcount", 0))


def record_step_reply(session: Session, friend: Friend, *, event_id: int, at: datetime) -> int:
    """Credit the friend's message to the latest step each scenario sent them in the 24 h before."""
    latest: dict[str, friend_reads.SentStep] = {}
    for step in friend_reads.sent_steps(session, friend.id, at):  # newest first
        latest.setdefault(step.scenario_id, step)
    if not latest:
        return 0
    session.execute(
        insert_for(session)(StepReply)
        .values([{"delivery_id": r.delivery_id, "event_id": event_id, "scenario_id": r.scenario_id,
                  "step_id": r.step_id, "replied_at": at} for r in latest.values()])
        .on_conflict_do_nothing(index_elements=["delivery_id", "event_id"])
    )
    return len(latest)


def set_attributes(session: Session, friend: Friend, values: dict[str, Any], now: datetime) -> None:
    """The ``set`` action for other callers (friend-add routes)."""
    _set_attributes(session, friend, values, now)


def enroll_into(session: Session, friend: Friend, scenario_id: str, *, at: datetime, now: datetime) -> None:
    """The ``enroll`` action for other callers (friend-add routes)."""
    _enroll(session, friend, scenario_id, at=at, now=now)
