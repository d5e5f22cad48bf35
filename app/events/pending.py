"""A friend's pending ledger events: which are waiting, and what they need read before the write
transaction (the friend's display name, regex keyword matches)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.dialect import among
from app.models.delivery import ENROLLMENT_ACTIVE, Enrollment
from app.models.events import EVENT_PROCESSED, WebhookEvent
from app.models.friends import Friend
from app.scenarios import matching
from app.scenarios.rule_defs import KeywordWhen
from app.scenarios.store import definition_for, live_scenarios


def pending_events(session: Session, channel: str, user_id: str) -> list[WebhookEvent]:
    """The friend's unprocessed events, oldest first by LINE's timestamp (arrival order is not reliable)."""
    return list(
        session.scalars(
            sa.select(WebhookEvent)
            .where(
                WebhookEvent.channel == channel,
                WebhookEvent.user_id == user_id,
                WebhookEvent.processed_at.is_(None),
            )
            .order_by(WebhookEvent.timestamp, WebhookEvent.id)
        )
    )


def mark_processed(session: Session, event_ids: Sequence[int], now: datetime) -> None:
    """Settle a batch's processed events in one statement (not one UPDATE an event). The loaded
    rows are not refreshed: nothing reads them again in this transaction."""
    if event_ids:
        session.execute(sa.update(WebhookEvent).where(WebhookEvent.id.in_(event_ids))
                        .values(status=EVENT_PROCESSED, error=None, processed_at=now)
                        .execution_options(synchronize_session=False))


FriendKey = tuple[str, str]  # (channel, user_id)


def by_channel(friends: Sequence[FriendKey]) -> dict[str, list[str]]:
    """The friends' user ids grouped by channel (each channel's rows are one query)."""
    grouped: dict[str, list[str]] = {}
    for channel, user_id in friends:
        grouped.setdefault(channel, []).append(user_id)
    return grouped


def pending_events_of(session: Session, friends: Sequence[FriendKey]) -> dict[FriendKey, list[WebhookEvent]]:
    """:func:`pending_events` of several friends, one query per channel."""
    found: dict[FriendKey, list[WebhookEvent]] = {}
    for channel, user_ids in by_channel(friends).items():
        rows = session.scalars(
            sa.select(WebhookEvent)
            .where(WebhookEvent.channel == channel, among(session, WebhookEvent.user_id, user_ids),
                   WebhookEvent.processed_at.is_(None))
            .order_by(WebhookEvent.user_id, WebhookEvent.timestamp, WebhookEvent.id))
        for event in rows:
            found.setdefault((channel, event.user_id or ""), []).append(event)
    return found


@dataclass
class ReadAhead:
    """What a batch of friends' pending events need read before the write transaction."""

    pending: dict[FriendKey, int] = field(default_factory=dict)  # how many events wait, per friend
    wants_profile: list[FriendKey] = field(default_factory=list)
    matches: dict[matching.MatchKey, bool] = field(default_factory=dict)


def read_ahead(session: Session, friends: Sequence[FriendKey]) -> ReadAhead:
    """:func:`needs_profile` and :func:`precompute_keyword_matches` for several friends at once: one
    query per channel for their pending events, one for the follows' names, one for their
    enrollments, one for keyword-triggered scenarios (so a drain of 100 friends pays 4 queries, not 400)."""
    ahead = ReadAhead()
    texts: dict[FriendKey, list[str]] = {}
    for channel, user_ids in by_channel(friends).items():
        rows = session.execute(
            sa.select(WebhookEvent.user_id, WebhookEvent.type, WebhookEvent.payload)
            .where(WebhookEvent.channel == channel, among(session, WebhookEvent.user_id, user_ids),
                   WebhookEvent.processed_at.is_(None))).all()
        follows: set[str] = set()
        for user_id, kind, payload in rows:
            key = (channel, user_id or "")
            ahead.pending[key] = ahead.pending.get(key, 0) + 1
            if kind == "follow":
                follows.add(key[1])
            elif kind == "message" and isinstance(text := (payload.get("message") or {}).get("text"), str):
                texts.setdefault(key, []).append(text)
        if follows:
            named = set(session.scalars(sa.select(Friend.user_id).where(
                Friend.channel == channel, among(session, Friend.user_id, sorted(follows)),
                Friend.display_name.is_not(None), Friend.display_name != "")))
            ahead.wants_profile += [(channel, user_id) for user_id in sorted(follows - named)]
        if not any(key[0] == channel for key in texts):
            continue
        # friend ids first: the enrollments are then found by their friend_id index whatever the
        # statistics say (a join planned before a burst was analysed scanned every enrollment)
        user_of = dict(session.execute(sa.select(Friend.id, Friend.user_id).where(
            Friend.channel == channel, among(session, Friend.user_id, [k[1] for k in texts if k[0] == channel]))).all())
        enrolled = session.execute(
            sa.select(Enrollment.friend_id, Enrollment.scenario_id, Enrollment.scenario_version)
            .where(among(session, Enrollment.friend_id, sorted(user_of)), Enrollment.status == ENROLLMENT_ACTIVE)
        ).all() if user_of else []
        keyword_starts = [(tuple(scn.start.keywords), scn.start.match)
                          for _, scn in live_scenarios(session, channel, "keyword") if scn.start.keywords]
        sets_of: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        regex_sets: dict[tuple[str, int], list[tuple[tuple[str, ...], str]]] = {}  # friends share scenarios
        for friend_id, scenario_id, version in enrolled:
            if (scenario_id, version) not in regex_sets:
                regex_sets[scenario_id, version] = _regex_sets(session, scenario_id, version)
            sets_of.setdefault(user_of[friend_id], []).extend(regex_sets[scenario_id, version])
        for key, said in texts.items():
            if key[0] == channel:
                ahead.matches.update(matching.precompute_matches([*sets_of.get(key[1], []), *keyword_starts], said))
    return ahead


def _regex_sets(session: Session, scenario_id: str, version: int) -> list[tuple[tuple[str, ...], str]]:
    return [(tuple(rule.when.keyword), rule.when.match)
            for rule in definition_for(session, scenario_id, version).rules
            if isinstance(rule.when, KeywordWhen) and rule.when.match == "regex"]


def needs_profile(session: Session, channel: str, user_id: str) -> bool:
    """True when a pending follow exists and we do not know the friend's display name yet."""
    has_follow = session.scalar(
        sa.select(sa.func.count())
        .select_from(WebhookEvent)
        .where(WebhookEvent.channel == channel, WebhookEvent.user_id == user_id,
               WebhookEvent.processed_at.is_(None), WebhookEvent.type == "follow")
    )
    if not has_follow:
        return False
    name = session.scalar(sa.select(Friend.display_name).where(Friend.channel == channel, Friend.user_id == user_id))
    return not name


def precompute_keyword_matches(session: Session, channel: str, user_id: str) -> dict[matching.MatchKey, bool]:
    """Run the regex keyword rules the friend's pending texts will meet, in a read transaction
    before the write one (``matching.using_precomputed``): the write lock is never held while a
    friend's text is matched. Anything not foreseen here is matched in the transaction, still
    in linear time."""
    texts = [text for payload in session.scalars(
        sa.select(WebhookEvent.payload).where(WebhookEvent.channel == channel, WebhookEvent.user_id == user_id,
                                              WebhookEvent.processed_at.is_(None), WebhookEvent.type == "message"))
        if isinstance(text := (payload.get("message") or {}).get("text"), str)]
    if not texts:
        return {}
    keyword_sets: list[tuple[tuple[str, ...], str]] = []
    enrolled = session.execute(
        sa.select(Enrollment.scenario_id, Enrollment.scenario_version).join(Friend, Friend.id == Enrollment.friend_id)
        .where(Friend.channel == channel, Friend.user_id == user_id, Enrollment.status == ENROLLMENT_ACTIVE)).all()
    for scenario_id, version in enrolled:
        for rule in definition_for(session, scenario_id, version).rules:
            if isinstance(rule.when, KeywordWhen):
                keyword_sets.append((tuple(rule.when.keyword), rule.when.match))
    for _, scn in live_scenarios(session, channel, "keyword"):
        if scn.start.keywords:
            keyword_sets.append((tuple(scn.start.keywords), scn.start.match))
    return matching.precompute_matches(keyword_sets, texts)
