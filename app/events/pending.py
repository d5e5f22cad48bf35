"""A friend's pending ledger events: which are waiting, and what they need read before the write
transaction (the friend's display name, regex keyword matches)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models.delivery import ENROLLMENT_ACTIVE, Enrollment
from app.models.events import WebhookEvent
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
