"""Use cases on friends as staff see them (SPEC §8): read, edit, search, bulk actions.

Each public function owns its transaction (reads in ``db.read()``) and answers what the edge
renders. (Friend state driven by webhook events lives in ``app.events.friend_state``.)
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from app.delivery.audience import enroll_audience
from app.delivery.enrollment import on_start_field_changed
from app.dialect import among, insert_for, is_postgres, rowcount
from app.errors import BadRequest, Conflict, NotFound, SteplineError
from app.extensions import db
from app.friends.errors import Invalid
from app.friends.fields import coerce_all, defined_fields, field_specs, hidden_attributes
from app.friends.records import friend_json
from app.friends.segments import get_segment, parse_filter, segment_filters, unknown_segments
from app.friends.sql import FRIENDS, TAGS, compile_filter, prepare_scan
from app.models.contacts import Segment
from app.models.delivery import (
    DELIVERY_CANCELLED,
    DELIVERY_HELD,
    DELIVERY_QUEUED,
    ENROLLMENT_ACTIVE,
    ENROLLMENT_STOPPED,
    Delivery,
    Enrollment,
)
from app.models.friends import Friend, FriendTag
from app.models.scenarios import SCENARIO_LIVE, Scenario
from app.quota import tracker
from app.scenarios.filters import FilterNode
from app.services.conversations import friend_conversation_state, friends_conversation_state

MAX_Q_VALUES = 10_000
MAX_USER_IDS = 1_000_000
MAX_PER_PAGE = 1000
MAX_PAGE = 1_000_000
STOP_BY_STAFF = "staff"
BULK_ACTIONS = ("add_tag", "remove_tag", "opt_out", "opt_in", "enroll", "stop")
LINE_USER_ID = re.compile(r"U[0-9a-f]{32}")
_SEPARATORS = re.compile(r"[\s,、，]+")


def _tags_by_friend(session: Session, ids: list[int]) -> dict[int, list[str]]:
    """Tags of these friends, by friend id."""
    tags: dict[int, list[str]] = defaultdict(list)
    for start in range(0, len(ids), 5000):
        for friend_id, tag in session.execute(sa.select(FriendTag.friend_id, FriendTag.tag)
                                              .where(among(session, FriendTag.friend_id, ids[start:start + 5000]))):
            tags[friend_id].append(tag)
    return tags


def _find_friend(session: Session, user_id: str, channel: str | None = None, *, lock: bool = False) -> Friend:
    """The friend with this LINE user id (the default channel's first when several channels know it)."""
    query = sa.select(Friend).where(Friend.user_id == user_id)
    if channel is not None:
        query = query.where(Friend.channel == channel)
    query = query.order_by((Friend.channel != "default"), Friend.id).limit(1)
    if lock:
        query = query.with_for_update()
    friend = session.scalars(query).first()
    if friend is None:
        raise NotFound(f"friend {user_id!r} does not exist")
    return friend


def get_friend(user_id: str, channel: str | None = None) -> dict[str, Any]:
    """The friend JSON of one friend."""
    with db.read() as session:
        return _friend_json(session, _find_friend(session, user_id, channel))


def _friend_json(session: Session, friend: Friend) -> dict[str, Any]:
    return friend_json(friend, _tags_by_friend(session, [friend.id]).get(friend.id, []), hidden_attributes(session),
                       friend_conversation_state(session, friend))


def _tag_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, str) and 0 < len(t) <= 100 for t in value):
        raise BadRequest(f"{key} is invalid", [{"path": key, "message": "expected a list of tags (1-100 characters)"}])
    return list(dict.fromkeys(value))


def _attribute_errors(errors: dict[str, str]) -> Invalid:
    names = ", ".join(sorted(errors))
    details: list[dict[str, object]] = [{"field": name, "path": f"attributes.{name}", "message": message}
                                        for name, message in sorted(errors.items())]
    return Invalid(f"invalid value for field {names}", details)


@dataclass(frozen=True)
class _Changes:
    """A checked edit: coerced attributes (None removes), tags to add and remove, the opt-out flag."""

    attributes: dict[str, Any]
    add_tags: list[str]
    remove_tags: list[str]
    opted_out: bool | None


def patch_friend(user_id: str, body: Any, now: datetime, channel: str | None = None) -> dict[str, Any]:
    """Edit attributes (null removes; coerced to their fields' types), tags and the opt-out flag;
    the friend JSON. The body is checked before the friend is looked up (and locked)."""
    with db.transaction() as session:
        changes = _changes(session, body)
        friend = _find_friend(session, user_id, channel, lock=True)
        _apply(session, friend, changes, now)
        return _friend_json(session, friend)


def edit_friend(friend_id: int, body: Any, now: datetime) -> str | None:
    """The dashboard's inline edit of :func:`patch_friend`, by row id: the friend's user id, or None
    when there is no such friend (nothing checked then)."""
    with db.transaction() as session:
        friend = session.get(Friend, friend_id, with_for_update=True)
        if friend is None:
            return None
        _apply(session, friend, _changes(session, body), now)
        return friend.user_id


def _changes(session: Session, body: Any) -> _Changes:
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object", [{"message": "send attributes, add_tags, remove_tags, opted_out"}])
    unknown = sorted(set(body) - {"attributes", "add_tags", "remove_tags", "opted_out"})
    if unknown:
        raise BadRequest("unknown keys", [{"path": key, "message": "not editable"} for key in unknown])
    changes = body.get("attributes", {})
    if not isinstance(changes, dict):
        raise BadRequest("attributes is invalid", [{"path": "attributes", "message": "expected an object"}])
    add, remove = _tag_list(body, "add_tags"), _tag_list(body, "remove_tags")
    opted_out = body.get("opted_out")
    if opted_out is not None and not isinstance(opted_out, bool):
        raise BadRequest("opted_out is invalid", [{"path": "opted_out", "message": "expected true or false"}])
    coerced, errors = coerce_all(field_specs(session), changes)
    if errors:
        raise _attribute_errors(errors)
    return _Changes(coerced, add, remove, opted_out)


def _apply(session: Session, friend: Friend, changes: _Changes, now: datetime) -> None:
    attributes = dict(friend.attributes or {})
    changed = [name for name, value in changes.attributes.items() if attributes.get(name) != value]
    for name, value in changes.attributes.items():
        if value is None:
            attributes.pop(name, None)
        else:
            attributes[name] = value
    if changed:
        friend.attributes = attributes
    if changes.opted_out is not None:
        friend.opted_out = changes.opted_out
    _add_tags(session, [friend.id], changes.add_tags, now)
    if changes.remove_tags:
        session.execute(sa.delete(FriendTag).where(FriendTag.friend_id == friend.id,
                                                   FriendTag.tag.in_(changes.remove_tags)))
    friend.updated_at = now
    session.flush()
    for name in changed:
        on_start_field_changed(session, friend, f"attribute:{name}", now)


def _add_tags(session: Session, friend_ids: list[int], tags: Iterable[str], now: datetime) -> int:
    rows = [{"friend_id": fid, "tag": tag, "created_at": now} for tag in tags for fid in friend_ids]
    if not rows:
        return 0
    statement = insert_for(session)(TAGS).on_conflict_do_nothing(index_elements=["friend_id", "tag"])
    return rowcount(session.execute(statement.execution_options(preserve_rowcount=True), rows))


# --- search ---------------------------------------------------------------------------------------
def query_values(q: str | None) -> list[str]:
    """``q`` split on commas and spaces (bulk search); at most :data:`MAX_Q_VALUES` values."""
    values = [v for v in _SEPARATORS.split(q or "") if v]
    if len(values) > MAX_Q_VALUES:
        raise BadRequest("too many search values", [{"path": "q", "message": f"at most {MAX_Q_VALUES} values"}])
    return list(dict.fromkeys(values))


def _in_texts(session: Session, column: Any, values: list[str]) -> sa.ColumnElement[bool]:
    """``column IN values`` as one parameter however many values (SQLite: a JSON array)."""
    if is_postgres(session):
        return among(session, column, values)  # type: ignore[no-any-return]
    return column.in_(sa.select(sa.literal_column("value")).select_from(  # type: ignore[no-any-return]
        sa.func.json_each(json.dumps(values))))


def _query_condition(session: Session, values: list[str]) -> sa.ColumnElement[bool]:
    """Any value: an exact user id, or (unless it is shaped like one) a display-name substring
    (case-insensitive). The values travel as one parameter (an array, or JSON text on SQLite),
    so 10,000 of them make one short statement."""
    ids = [v for v in values if len(v) <= 64]
    names = [v.lower() for v in values if not LINE_USER_ID.fullmatch(v)]
    name = sa.func.lower(FRIENDS.c.display_name)
    options: list[sa.ColumnElement[bool]] = []
    if ids:
        options.append(_in_texts(session, FRIENDS.c.user_id, ids))
    if is_postgres(session):
        if names:
            needles = sa.func.unnest(sa.bindparam(None, names, type_=postgresql.ARRAY(sa.Text))).alias("needle")
            options.append(sa.exists(sa.select(sa.literal(1)).select_from(needles).where(
                sa.func.strpos(name, sa.literal_column("needle")) > 0)))
    elif names:
        needles = sa.func.json_each(json.dumps(names)).alias("needle")
        options.append(sa.exists(sa.select(sa.literal(1)).select_from(needles).where(
            sa.func.instr(name, sa.literal_column("needle.value")) > 0)))
    return sa.or_(*options) if options else sa.false()


def _load_filter(session: Session, data: Any, where: str = "filter") -> FilterNode:
    """A filter from a request, every segment it names known (422 otherwise)."""
    node = parse_filter(data, where)
    missing = unknown_segments(session, node)
    if missing:
        raise Invalid("filter names unknown segments", [{"path": where, "message": f"unknown segment {m!r}"}
                                                         for m in missing])
    return node


def _parse_filter_text(session: Session, text: str | None) -> FilterNode | None:
    """The ``filter=<JSON>`` query parameter."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        raise BadRequest("filter is not JSON", [{"path": "filter", "message": "expected a JSON filter tree"}]) from None
    return _load_filter(session, data)


@dataclass
class Criteria:
    """What a search or bulk selection asks for (ANDed)."""

    values: list[str]
    filter: FilterNode | None = None
    segment: str | None = None
    user_ids: list[str] | None = None

    def condition(self, session: Session, now: datetime, *, scan: bool = False) -> sa.ColumnElement[bool]:
        """The SQL condition on friends; ``scan``: for a statement over every friend (a count, a bulk
        action), run after :func:`app.friends.sql.prepare_scan` (see ``compile_filter``)."""
        definitions = segment_filters(session)
        dialect = session.get_bind().dialect.name
        parts: list[sa.ColumnElement[bool]] = []
        if self.values:
            parts.append(_query_condition(session, self.values))
        if self.filter is not None:
            parts.append(compile_filter(dialect, self.filter, now, definitions, scan=scan))
        if self.segment is not None:
            get_segment(session, self.segment)
            parts.append(compile_filter(dialect, definitions[self.segment], now, definitions, scan=scan))
        if self.user_ids is not None:
            parts.append(_in_texts(session, FRIENDS.c.user_id, self.user_ids) if self.user_ids else sa.false())
        return sa.and_(sa.true(), *parts)


def _positive(value: Any, name: str, default: int, maximum: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} is invalid", [{"path": name, "message": "expected a whole number"}]) from None
    if not 1 <= number <= maximum:
        raise BadRequest(f"{name} is out of range", [{"path": name, "message": f"expected 1 to {maximum}"}])
    return number


def page_numbers(page: Any, per_page: Any) -> tuple[int, int]:
    """Validated ``page`` (from 1) and ``per_page`` (1-1000, default 100)."""
    return _positive(page, "page", 1, MAX_PAGE), _positive(per_page, "per_page", 100, MAX_PER_PAGE)


def _count(session: Session, condition: sa.ColumnElement[bool]) -> int:
    """How many friends meet ``condition`` (exact; compiled with ``scan=True``)."""
    prepare_scan(session)
    return int(session.scalar(sa.select(sa.func.count()).select_from(FRIENDS).where(condition)) or 0)


def _search_rows(session: Session, criteria: Criteria, page: int, per_page: int, now: datetime
                 ) -> tuple[int, list[tuple[Friend, list[str]]]]:
    """The exact total and one page of (friend, tags) in id order."""
    total = _count(session, criteria.condition(session, now, scan=True))
    condition = criteria.condition(session, now)  # the page: the first matches in id order, found by key
    friends = list(session.scalars(sa.select(Friend).where(condition).order_by(Friend.id)
                                   .offset((page - 1) * per_page).limit(per_page)))
    tags = _tags_by_friend(session, [f.id for f in friends])
    return total, [(f, sorted(tags.get(f.id, []))) for f in friends]


def search(q: str | None, filter_text: str | None, segment: str | None, page: int, per_page: int,
           now: datetime) -> dict[str, Any]:
    """The API's search: ``q`` (pasted ids or names), ``filter`` (JSON text) and a segment id, ANDed;
    ``{"total", "page", "per_page", "friends"}`` in id order, ``total`` exact."""
    with db.read() as session:
        criteria = Criteria(query_values(q), filter=_parse_filter_text(session, filter_text), segment=segment or None)
        return _search(session, criteria, page, per_page, now)


def _search(session: Session, criteria: Criteria, page: int, per_page: int, now: datetime) -> dict[str, Any]:
    total, rows = _search_rows(session, criteria, page, per_page, now)
    hidden = hidden_attributes(session)
    states = friends_conversation_state(session, [f.id for f, _ in rows])
    return {"total": total, "page": page, "per_page": per_page,
            "friends": [friend_json(f, tags, hidden, states[f.id]) for f, tags in rows]}


@dataclass(frozen=True)
class FriendQuery:
    """A dashboard selection as its form gave it, checked in the use case's transaction: pasted ids
    or names, a filter tree (decoded, its segments not yet checked) and a segment id, ANDed; or
    the ticked user ids."""

    q: str | None = None
    filter: Any = None
    segment: str | None = None
    user_ids: list[str] | None = None


def _criteria(session: Session, query: FriendQuery) -> Criteria:
    node = _load_filter(session, query.filter) if query.filter is not None else None
    return Criteria(query_values(query.q), filter=node, segment=query.segment or None, user_ids=query.user_ids)


@dataclass(frozen=True)
class FriendList:
    """The dashboard's friend list: one page of (friend, sorted tags) and what its forms offer.

    ``error``: the search was refused (the page still shows the forms)."""

    total: int
    rows: list[tuple[Friend, list[str]]]
    hidden: set[str]
    everyone: int
    tags: list[str]
    segments: list[str]
    fields: list[str]
    error: SteplineError | None = None


def friend_list(query: FriendQuery | None, page: int, per_page: int, now: datetime) -> FriendList:
    """One page of the dashboard's search (``query`` None: the edge refused the form already) with
    the friend count, the tags (at most 500), segment ids and field names for its forms."""
    total, error = 0, None
    rows: list[tuple[Friend, list[str]]] = []
    hidden: set[str] = set()
    with db.read() as session:
        if query is not None:
            try:
                total, rows = _search_rows(session, _criteria(session, query), page, per_page, now)
                hidden = hidden_attributes(session)
            except SteplineError as exc:
                error = exc
        everyone = int(session.scalar(sa.select(sa.func.count()).select_from(Friend)) or 0)
        tags = list(session.scalars(sa.select(FriendTag.tag).distinct().order_by(FriendTag.tag).limit(500)))
        segments = list(session.scalars(sa.select(Segment.id).order_by(Segment.id)))
        fields = [f.name for f in defined_fields(session)]
    return FriendList(total, rows, hidden, everyone, tags, segments, fields, error)


# --- bulk actions ---------------------------------------------------------------------------------
def _selection(session: Session, select: Any) -> Criteria:
    """``{"filter": F} | {"segment": ID} | {"user_ids": [...]}`` (absent: every friend)."""
    if select is None:
        return Criteria([])
    if not isinstance(select, dict) or len(select) != 1 or next(iter(select)) not in ("filter", "segment", "user_ids"):
        raise BadRequest("select is invalid", [{"path": "select", "message":
                                                'expected one of {"filter": F}, {"segment": ID}, {"user_ids": [...]}'}])
    if "filter" in select:
        return Criteria([], filter=_load_filter(session, select["filter"], "select.filter"))
    if "segment" in select:
        if not isinstance(select["segment"], str):
            raise BadRequest("select is invalid", [{"path": "select.segment", "message": "expected a segment id"}])
        return Criteria([], segment=select["segment"])
    ids = select["user_ids"]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > MAX_USER_IDS:
        raise BadRequest("select is invalid", [{"path": "select.user_ids", "message": "expected a list of user ids"}])
    return Criteria([], user_ids=list(dict.fromkeys(ids)))


def _live_scenario(session: Session, value: Any) -> Scenario:
    if not isinstance(value, str):
        raise BadRequest("value is invalid", [{"path": "value", "message": "expected a scenario id"}])
    scenario = session.get(Scenario, value)
    if scenario is None:
        raise NotFound(f"scenario {value!r} does not exist")
    return scenario


def _check_action(body: dict[str, Any]) -> tuple[str, Any]:
    action, value = body.get("action"), body.get("value")
    if action not in BULK_ACTIONS:
        raise BadRequest("action is invalid", [{"path": "action",
                                                "message": f"expected one of {', '.join(BULK_ACTIONS)}"}])
    if action in ("add_tag", "remove_tag") and not (isinstance(value, str) and 0 < len(value) <= 100):
        raise BadRequest("value is invalid", [{"path": "value", "message": "expected a tag (1-100 characters)"}])
    return action, value


def _quota_left(session: Session, channel: str, now: datetime) -> int | None:
    return tracker.status(session, channel, now).remaining


def bulk(body: Any, now: datetime, *, dry_run: bool = False, query: FriendQuery | None = None) -> dict[str, Any]:
    """Apply one action to every selected friend in one transaction: ``{"matched", "changed"}``; a
    dry run answers the impact (``matched``, ``would_enroll``, ``messages_due_now``, ``quota_left``)
    and rolls back whatever it touched.

    ``query`` (the dashboard's ticked friends or "all N matching") replaces the body's ``select``."""
    with db.transaction() as session:
        criteria = _criteria(session, query) if query is not None else None
        result = _bulk(session, body, now, dry_run=dry_run, criteria=criteria)
        if dry_run:
            session.rollback()
    return result


def _bulk(session: Session, body: Any, now: datetime, *, dry_run: bool, criteria: Criteria | None) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object", [{"message": 'send {"select": ..., "action": ..., "value": ...}'}])
    action, value = _check_action(body)
    chosen = criteria or _selection(session, body.get("select"))
    condition = chosen.condition(session, now, scan=True)
    matched = _count(session, condition)
    if action == "enroll":  # enrollment reads the friends in id order, a batch at a time
        condition = chosen.condition(session, now)
    if dry_run:
        return _impact(session, action, value, condition, matched, now)
    return {"matched": matched, "changed": _act(session, action, value, condition, now)}


def _impact(session: Session, action: str, value: Any, condition: sa.ColumnElement[bool], matched: int,
            now: datetime) -> dict[str, Any]:
    channel, would, due_now = "default", 0, 0
    if action == "enroll":
        scenario = _live_scenario(session, value)
        channel = scenario.channel
        due: list[int] = []
        if scenario.status == SCENARIO_LIVE:
            would = enroll_audience(session, scenario.id, now, only=condition, write=False,
                                    observe=lambda rows: due.append(sum(1 for row in rows if row[2] <= now)))
        due_now = sum(due)
    return {"matched": matched, "would_enroll": would, "messages_due_now": due_now,
            "quota_left": _quota_left(session, channel, now)}


def _selected_ids(condition: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return sa.select(FRIENDS.c.id).where(condition)


def _act(session: Session, action: str, value: Any, condition: sa.ColumnElement[bool], now: datetime) -> int:
    if action == "add_tag":
        statement = insert_for(session)(TAGS).from_select(
            ["friend_id", "tag", "created_at"],
            sa.select(FRIENDS.c.id, sa.literal(value, sa.String), sa.literal(now, TAGS.c.created_at.type))
            .where(condition)).on_conflict_do_nothing(index_elements=["friend_id", "tag"])
        return rowcount(session.execute(statement.execution_options(preserve_rowcount=True)))
    if action == "remove_tag":
        return rowcount(session.execute(sa.delete(FriendTag).where(
            FriendTag.tag == value, FriendTag.friend_id.in_(_selected_ids(condition)))))
    if action in ("opt_out", "opt_in"):
        flag = action == "opt_out"
        return rowcount(session.execute(sa.update(FRIENDS).where(condition, FRIENDS.c.opted_out.is_(not flag))
                                        .values(opted_out=flag, updated_at=now)))
    scenario = _live_scenario(session, value)
    if action == "enroll":
        if scenario.status != SCENARIO_LIVE:
            raise Conflict(f"scenario {scenario.id!r} is {scenario.status}: only live scenarios take friends")
        return enroll_audience(session, scenario.id, now, only=condition)
    return _stop(session, scenario.id, condition, now)


def _stop(session: Session, scenario_id: str, condition: sa.ColumnElement[bool], now: datetime) -> int:
    """Stop the selected friends' active cycles of a scenario and cancel their unsent steps."""
    stopped = list(session.scalars(
        sa.update(Enrollment).where(Enrollment.scenario_id == scenario_id, Enrollment.status == ENROLLMENT_ACTIVE,
                                    Enrollment.friend_id.in_(_selected_ids(condition)))
        .values(status=ENROLLMENT_STOPPED, stop_reason=STOP_BY_STAFF, next_run_at=None, finished_at=now)
        .returning(Enrollment.id).execution_options(synchronize_session=False)))
    for start in range(0, len(stopped), 5000):
        session.execute(sa.update(Delivery).where(
            among(session, Delivery.enrollment_id, stopped[start:start + 5000]),
            Delivery.status.in_((DELIVERY_QUEUED, DELIVERY_HELD)))
            .values(status=DELIVERY_CANCELLED, error="stopped by staff").execution_options(synchronize_session=False))
    return len(stopped)
