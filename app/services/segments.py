"""Use cases for segments (SPEC §8): saved dynamic filters, their counts, files under ``segments/``.

Each public function owns its transaction and answers :func:`segment_json` dicts.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from app.errors import BadRequest, Conflict, NotFound
from app.extensions import db
from app.friends.errors import Invalid
from app.friends.segments import (
    SEGMENT_ID,
    dump_filter,
    get_segment,
    parse_filter,
    register_usage_check,
    segment_filters,
    segment_users,
)
from app.friends.sql import FRIENDS, compile_filter, prepare_scan
from app.limits import MAX_DOCUMENT_BYTES, MAX_DOCUMENT_NESTING
from app.line.webhook_body import check_storable
from app.models.contacts import Segment
from app.models.scenarios import Scenario
from app.scenarios.filters import FilterNode, segments_named
from app.scenarios.schema import ScenarioDef
from app.scenarios.store import definition_for

MAX_DOCUMENT = MAX_DOCUMENT_BYTES


def scenario_segments(scn: ScenarioDef) -> set[str]:
    """Segment ids a scenario names: in its filter and its steps' conditions."""
    names = segments_named(scn.filter)
    for step in scn.steps:
        names |= segments_named(step.if_)
    return names


@register_usage_check
def _scenarios_using(session: Session, segment_id: str) -> list[str]:
    users = []
    for scenario in session.scalars(sa.select(Scenario)):
        try:
            scn = definition_for(session, scenario.id, scenario.version)
        except NotFound:
            continue
        if segment_id in scenario_segments(scn):
            users.append(f"scenario {scenario.id}")
    return users


def parse_document(text: str) -> Any:
    """A segment document (JSON is YAML) with bounded size and aliases."""
    if len(text.encode()) > MAX_DOCUMENT:
        raise TooLarge(f"document over {MAX_DOCUMENT // 1024} KiB")
    try:
        loaded = yaml.compose(text, Loader=yaml.SafeLoader)
        if loaded is not None and _alias_heavy(loaded):
            raise Invalid("document is invalid", [{"message": "too many YAML aliases"}])
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BadRequest("document is not valid YAML or JSON", [{"message": str(exc)[:300]}]) from None
    except RecursionError:
        raise Invalid("document is invalid", [{"message": f"nesting deeper than {MAX_DOCUMENT_NESTING} levels"}]) \
            from None
    try:
        check_storable(data, MAX_DOCUMENT_NESTING)  # what no JSON column stores: NUL, lone surrogates
    except ValueError as exc:
        raise Invalid("document is invalid", [{"message": str(exc)}]) from None
    return data


class TooLarge(Invalid):
    """A document over the size limit (413)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, [{"message": message}])


def _alias_heavy(node: Any, budget: list[int] | None = None) -> bool:
    """Walk the composed tree counting visits (aliases revisit nodes): a billion laughs runs out fast."""
    budget = budget if budget is not None else [100_000]
    stack = [node]
    while stack:
        current = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            return True
        value = getattr(current, "value", None)
        if isinstance(value, list):
            for item in value:
                stack.extend(item if isinstance(item, tuple) else (item,))
    return False


def _count_matching(session: Session, node: FilterNode | None, now: datetime,
                    definitions: dict[str, FilterNode] | None = None) -> int:
    """How many friends pass ``node`` (exact)."""
    defs = definitions if definitions is not None else segment_filters(session)
    condition = compile_filter(session.get_bind().dialect.name, node, now, defs, scan=True)
    prepare_scan(session)
    return int(session.scalar(sa.select(sa.func.count()).select_from(FRIENDS).where(condition)) or 0)


def segment_json(segment: Segment, count: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": segment.id, "name": segment.name, "filter": segment.filter}
    if count is not None:
        data["count"] = count
    return data


def put_segment(segment_id: str, document: Any, now: datetime, *, with_count: bool = True
                ) -> tuple[dict[str, Any], bool]:
    """Create or replace a segment; (its JSON, created). 422 for a bad filter, an unknown segment it
    names or a cycle. ``with_count`` (the API's answer): the JSON says how many friends match now."""
    with db.transaction() as session:
        segment, created = _put_segment(session, segment_id, document, now)
        count = _count_matching(session, parse_filter(segment.filter), now) if with_count else None
        return segment_json(segment, count), created


def _put_segment(session: Session, segment_id: str, document: Any, now: datetime) -> tuple[Segment, bool]:
    if not SEGMENT_ID.fullmatch(segment_id):
        raise Invalid("segment id is invalid", [{"path": "id", "message": f"expected {SEGMENT_ID.pattern}"}])
    if not isinstance(document, dict):
        raise Invalid("segment is invalid", [{"message": 'expected {"name": ..., "filter": {...}}'}])
    unknown = sorted(set(document) - {"id", "name", "filter"})
    problems: list[dict[str, object]] = [{"path": k, "message": "unknown key"} for k in unknown]
    if document.get("id", segment_id) != segment_id:
        problems.append({"path": "id", "message": f"the document's id is {document.get('id')!r} but the URL "
                                                  f"names {segment_id!r}"})
    name = document.get("name", segment_id)
    if not isinstance(name, str) or not name or len(name) > 200:
        problems.append({"path": "name", "message": "expected a name (1-200 characters)"})
    if "filter" not in document:
        problems.append({"path": "filter", "message": "expected a filter"})
    if problems:
        raise Invalid("segment is invalid", problems)
    node = parse_filter(document["filter"])
    definitions = segment_filters(session)
    missing = sorted(n for n in segments_named(node) if n not in definitions and n != segment_id)
    if missing:
        raise Invalid("segment is invalid", [{"path": "filter", "message": f"unknown segment {m!r}"} for m in missing])
    definitions[segment_id] = node
    if segment_id in _all_reached(definitions, segment_id):
        raise Invalid("segment is invalid", [{"path": "filter", "message": "the segment names itself"}])
    segment = session.get(Segment, segment_id, with_for_update=True)
    created = segment is None
    if segment is None:
        segment = Segment(id=segment_id, created_at=now)
        session.add(segment)
    segment.name, segment.filter, segment.updated_at = name, dump_filter(node), now
    session.flush()
    return segment, created


def _all_reached(definitions: dict[str, FilterNode], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(segments_named(definitions.get(start)))
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(segments_named(definitions.get(current)))
    return seen


def list_segments(now: datetime, counts: bool = True) -> list[dict[str, Any]]:
    """``[{"id", "name", "filter", "count"}]`` by id; each count evaluated afresh."""
    with db.read() as session:
        definitions = segment_filters(session)
        rows = list(session.scalars(sa.select(Segment).order_by(Segment.id)))
        return [segment_json(s, _count_matching(session, definitions[s.id], now, definitions) if counts else None)
                for s in rows]


def segment_with_count(segment_id: str, now: datetime) -> dict[str, Any]:
    """One segment with the number of friends it holds now; NotFound when there is none."""
    with db.read() as session:
        segment = get_segment(session, segment_id)
        return segment_json(segment, _count_matching(session, parse_filter(segment.filter), now))


def delete_segment(segment_id: str) -> None:
    """Delete a segment nobody uses; Conflict naming the users otherwise."""
    with db.transaction() as session:
        segment = get_segment(session, segment_id)
        users = segment_users(session, segment_id)
        if users:
            raise _InUse(segment_id, users)
        session.delete(segment)


class _InUse(Conflict):
    def __init__(self, segment_id: str, users: list[str]) -> None:
        super().__init__(f"segment {segment_id!r} is in use: " + ", ".join(users))
        self.details = [{"used_by": user} for user in users]


def load_files(paths: list[Path], now: datetime) -> list[tuple[dict[str, Any], bool]]:
    """Load segment files (YAML/JSON, ``id`` defaults to the file name) in one transaction: all or
    nothing; (JSON, created) of each. Files are ordered so a segment naming another comes after it."""
    documents: dict[str, Any] = {}
    for path in paths:
        document = parse_document(path.read_text(encoding="utf-8-sig"))
        if not isinstance(document, dict):
            raise Invalid("segment is invalid", [{"file": str(path), "message": "expected a mapping"}])
        documents[str(document.get("id", path.stem))] = document
    pending, loaded = dict(documents), []
    with db.transaction() as session:
        while pending:
            ready = [sid for sid, doc in pending.items()
                     if not (_named_in(doc) & (set(pending) - {sid}))] or list(pending)[:1]
            for sid in ready:
                segment, created = _put_segment(session, sid, pending.pop(sid), now)
                loaded.append((segment_json(segment), created))
    return loaded


def _named_in(document: dict[str, Any]) -> set[str]:
    try:
        return segments_named(parse_filter(document.get("filter")))
    except Invalid:
        return set()
