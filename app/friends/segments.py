"""Segments: saved filters, parsed and resolved; who uses a segment (so it is not deleted under them)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.friends.errors import Invalid
from app.friends.evaluate import FriendFacts, evaluate, segment_test
from app.models.contacts import Segment
from app.models.friends import Friend, FriendTag
from app.scenarios.filters import FilterNode, segments_named

SEGMENT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
MAX_DEPTH = 64
_NODE: TypeAdapter[Any] = TypeAdapter(FilterNode)


FilterInvalid = Invalid  # a filter (or segment document) that does not parse


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()], default=level)
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value], default=level)
    return level


def parse_filter(data: Any, where: str = "filter") -> FilterNode:
    """A filter tree from its JSON/YAML form; FilterInvalid naming each problem's path."""
    if _depth(data) > MAX_DEPTH:
        raise FilterInvalid("filter is invalid", [{"path": where, "message": f"nested deeper than {MAX_DEPTH}"}])
    try:
        return _NODE.validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        details: list[dict[str, object]] = [
            {"path": ".".join([where, *(str(p) for p in error["loc"] if not str(p).startswith("~"))]),
             "message": error["msg"]} for error in exc.errors()]
        raise FilterInvalid("filter is invalid", details) from None


def dump_filter(node: FilterNode) -> dict[str, Any]:
    """The document form of a tree (as stored and shown)."""
    return _NODE.dump_python(node, mode="json", by_alias=True)  # type: ignore[no-any-return]


def segment_filters(session: Session) -> dict[str, FilterNode]:
    """Every segment's filter by id (a small table, read whole)."""
    return {row.id: _NODE.validate_python(row.filter) for row in session.execute(sa.select(Segment.id, Segment.filter))}


def get_segment(session: Session, segment_id: str) -> Segment:
    """The segment row; NotFound when there is none."""
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"segment {segment_id!r} does not exist")
    return segment


def unknown_segments(session: Session, node: FilterNode | None, extra: set[str] | None = None) -> list[str]:
    """Segment ids the tree names that do not exist (nor are in ``extra``)."""
    names = segments_named(node)
    if not names:
        return []
    known = set(session.scalars(sa.select(Segment.id).where(Segment.id.in_(names)))) | (extra or set())
    return sorted(names - known)


# --- who uses a segment: each check answers descriptions such as "scenario welcome" ----------------
UsageCheck = Callable[[Session, str], list[str]]
USAGE_CHECKS: list[UsageCheck] = []


def register_usage_check(check: UsageCheck) -> UsageCheck:
    """Add a place that can name segments (scenarios, rule sets, ...); usable as a decorator."""
    USAGE_CHECKS.append(check)
    return check


def segment_users(session: Session, segment_id: str) -> list[str]:
    """Everything that names the segment; deleting it is refused while this is not empty."""
    return [user for check in USAGE_CHECKS for user in check(session, segment_id)]


@register_usage_check
def _segments_using(session: Session, segment_id: str) -> list[str]:
    return [f"segment {other}" for other, node in segment_filters(session).items()
            if other != segment_id and segment_id in segments_named(node)]


# --- one friend ---------------------------------------------------------------------------------------
def facts_of(friend: Friend, tags: set[str]) -> FriendFacts:
    """What the filter language sees of a friend row."""
    return FriendFacts(attributes=friend.attributes or {}, tags=tags, followed_at=friend.followed_at,
                       last_message_at=friend.last_message_at, status=friend.status, opted_out=friend.opted_out,
                       display_name=friend.display_name, route=getattr(friend, "route", None))


def friend_matches(session: Session, friend: Friend, node: FilterNode | None, now: datetime) -> bool:
    """Whether one friend passes ``node`` now (tags and segments read from the database)."""
    if node is None:
        return True
    tags = set(session.scalars(sa.select(FriendTag.tag).where(FriendTag.friend_id == friend.id)))
    definitions = segment_filters(session) if segments_named(node) else {}
    return evaluate(node, facts_of(friend, tags), now=now, segment=segment_test(definitions, now))
