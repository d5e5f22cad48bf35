"""The filter language compiled to one SQL condition on ``friends`` (search, counts, bulk actions,
audiences, step conditions): PostgreSQL JSONB operators or SQLite JSON1.

Each rule mirrors :mod:`app.friends.evaluate` exactly (see its docstring); comparisons of text use
code-point order on both databases (``COLLATE "C"`` on PostgreSQL, SQLite's default BINARY).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from app.friends.evaluate import MAX_SEGMENT_DEPTH, NUMERIC_TEXT, iso_text, needle
from app.models.base import UTCDateTime
from app.models.friends import Friend, FriendTag
from app.scenarios.durations import parse_duration
from app.scenarios.filters import (
    TIME_FIELDS,
    AllFilter,
    AnyFilter,
    AttributeFilter,
    FieldFilter,
    FilterNode,
    NotFilter,
    SegmentFilter,
    TagFilter,
    parse_instant,
)

FRIENDS: sa.Table = Friend.__table__  # type: ignore[assignment]
TAGS: sa.Table = FriendTag.__table__  # type: ignore[assignment]
_PG_NUMERIC = "^" + NUMERIC_TEXT.pattern + "$"
_PG_DATE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}"
_SQLITE_DATE = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"


class _JsonPath(sa.types.UserDefinedType[str]):
    """PostgreSQL's ``jsonpath`` (for CAST)."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "jsonpath"


_JSONPATH = _JsonPath()


def _sure(condition: Any) -> sa.ColumnElement[bool]:
    """NULL (unknown) counts as false, so ``not`` and ``ne`` stay two-valued like Python."""
    return sa.func.coalesce(condition, sa.false())


@dataclass(frozen=True)
class _Json:
    """One JSON value in SQL: its type name and its scalar value, per dialect."""

    postgres: bool
    kind: Any  # PG jsonb_typeof / SQLite json_type (NULL when missing)
    raw: Any  # PG: the jsonb value; SQLite: the extracted SQL value

    def present(self) -> Any:
        return sa.and_(self.kind.is_not(None), self.kind != "null")

    def is_text(self) -> Any:
        return self.kind == ("string" if self.postgres else "text")

    def is_number(self) -> Any:
        return self.kind == "number" if self.postgres else self.kind.in_(("integer", "real"))

    def is_true(self, value: bool) -> Any:
        if self.postgres:
            return sa.and_(self.kind == "boolean", self.text() == ("true" if value else "false"))
        return self.kind == ("true" if value else "false")

    def is_array(self) -> Any:
        return self.kind == "array"

    def text(self) -> Any:
        if self.postgres:
            return self.raw.op("#>>", return_type=sa.Text)(sa.literal_column("'{}'"))
        return self.raw

    def ordered_text(self) -> Any:
        return sa.collate(self.text(), "C") if self.postgres else self.text()

    def numeric_text(self) -> Any:
        text = self.text()
        if self.postgres:
            return text.op("~")(_PG_NUMERIC)
        # -?[0-9]+(.[0-9]+)? in GLOB terms: only digits, '.', '-'; starts with a digit or '-digit';
        # '-' only first; at most one '.', not last
        return sa.and_(text.op("NOT GLOB")("*[^0-9.-]*"), sa.or_(text.op("GLOB")("[0-9]*"), text.op("GLOB")("-[0-9]*")),
                       sa.func.substr(text, 2).op("NOT GLOB")("*-*"), text.op("NOT GLOB")("*.*.*"),
                       text.op("NOT GLOB")("*."))

    def number(self) -> Any:
        """The value as a float when it is a number or a numeric text, else NULL."""
        if not self.postgres:
            return sa.case((self.is_number(), self.raw), (sa.and_(self.is_text(), self.numeric_text()),
                                                         sa.cast(self.text(), sa.Float)), else_=sa.null())
        # jsonb casts to float8 directly (no text round trip) when it is a number
        return sa.case((self.is_number(), sa.cast(self.raw, postgresql.DOUBLE_PRECISION)),
                       (sa.and_(self.is_text(), self.numeric_text()),
                        sa.cast(self.text(), postgresql.DOUBLE_PRECISION)), else_=sa.null())

    def date_text(self) -> Any:
        text = self.text()
        return text.op("~")(_PG_DATE) if self.postgres else text.op("GLOB")(_SQLITE_DATE)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _contained(expected: Any) -> bool:
    """True when ``eq expected`` is exactly ``attributes @> {name: expected}`` (a boolean, or a text
    that is not numeric: no number can equal it)."""
    return isinstance(expected, bool) or (isinstance(expected, str) and not NUMERIC_TEXT.fullmatch(expected))


def _equal(v: _Json, expected: Any, contains: Any = None) -> Any:
    """``eq``; ``contains(value)`` (PostgreSQL, a top-level attribute) tests ``attributes @> {name: value}``,
    one cheap operator instead of extracting and typing the value."""
    if contains is not None:
        if _contained(expected):
            return contains(expected)
        if _is_number(expected):
            return sa.or_(contains(expected), sa.and_(v.is_text(), v.numeric_text(),
                                                      sa.cast(v.text(), postgresql.DOUBLE_PRECISION)
                                                      == float(expected)))
    if isinstance(expected, bool):
        return v.is_true(expected)
    if _is_number(expected):
        return v.number() == float(expected)
    if NUMERIC_TEXT.fullmatch(expected):
        return sa.or_(sa.and_(v.is_text(), v.text() == expected),
                      sa.and_(v.is_number(), v.number() == float(expected)))
    return sa.and_(v.is_text(), v.text() == expected)


def _order(op: str, left: Any, right: Any) -> Any:
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]


def _compare(v: _Json, op: str, expected: Any) -> Any:
    if isinstance(expected, bool):
        return sa.false()
    textual = sa.and_(v.is_text(), _order(op, v.ordered_text(), expected)) if isinstance(expected, str) else sa.false()
    if _is_number(expected):
        return _order(op, v.number(), float(expected))
    if isinstance(expected, str) and NUMERIC_TEXT.fullmatch(expected):
        number = v.number()
        return sa.case((number.is_not(None), _order(op, number, float(expected))), else_=textual)
    return textual


class Compiler:
    """Compiles trees for one dialect, one ``now`` and one set of segment definitions."""

    def __init__(self, dialect: str, now: datetime, segments: Mapping[str, FilterNode] | None = None,
                 friends: Any = None, *, scan: bool = False) -> None:
        self.postgres = dialect == "postgresql"
        self.now = now
        self.segments = segments or {}
        self.friends = friends if friends is not None else FRIENDS
        self.scan = scan and self.postgres

    def condition(self, node: FilterNode | None, depth: int = 0) -> sa.ColumnElement[bool]:
        """The SQL twin of :func:`app.friends.evaluate.evaluate` (no tree: true)."""
        if node is None:
            return sa.true()
        if isinstance(node, AllFilter):
            return sa.and_(*(self.condition(child, depth) for child in node.all))
        if isinstance(node, AnyFilter):
            return sa.or_(*(self.condition(child, depth) for child in node.any))
        if isinstance(node, NotFilter):
            return sa.not_(self.condition(node.not_, depth))
        if isinstance(node, TagFilter):
            if self.scan:
                # a scan of every friend (counts, bulk actions): an uncorrelated IN is hashed once and
                # keeps the scan parallel; :func:`prepare_scan` sizes work_mem so the planner always
                # hashes it (else it rescans the whole set for every friend: minutes)
                return self.friends.c.id.in_(sa.select(TAGS.c.friend_id).where(TAGS.c.tag == node.tag))
            # a correlated EXISTS for a few friends (a page, step conditions): probes the (friend_id,
            # tag) key, or is hashed when the tag's rows fit work_mem
            return sa.exists().where(TAGS.c.friend_id == self.friends.c.id, TAGS.c.tag == node.tag)
        if isinstance(node, SegmentFilter):
            definition = self.segments.get(node.segment)
            if definition is None or depth >= MAX_SEGMENT_DEPTH:
                return sa.false()
            return self.condition(definition, depth + 1)
        if isinstance(node, FieldFilter):
            return self._field(node)
        assert isinstance(node, AttributeFilter)
        return self._attribute(node)

    def _value(self, name: str) -> _Json:
        attributes = self.friends.c.attributes
        if self.postgres:
            raw = attributes.op("->")(sa.literal(name, sa.Text))
            return _Json(True, sa.func.jsonb_typeof(raw), raw)
        path = '$."' + name + '"'
        return _Json(False, sa.func.json_type(attributes, path), sa.func.json_extract(attributes, path))

    def _contains(self, name: str) -> Any:
        """``attributes @> {name: value}`` on PostgreSQL (None on SQLite)."""
        if not self.postgres:
            return None
        attributes = self.friends.c.attributes
        contains = attributes.op("@>", return_type=sa.Boolean)
        return lambda value: contains(sa.cast(sa.literal(json.dumps({name: value})), postgresql.JSONB))

    def _number_path(self, name: str, op: str, expected: float) -> Any:
        """PostgreSQL: a JSON number, or a numeric text, ``op`` ``expected``, as one jsonpath test
        (strict: a list is never unwrapped into its elements). One call per row instead of three
        extractions and a CASE."""
        symbol = {"eq": "==", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
        # [.] rather than \. : a jsonpath string literal would eat the backslash ("." then matches anything)
        # the type test first: like_regex costs most of the test, and only a text can be numeric
        path = (f'strict $."{name}" ? (@ {symbol} $x || (@.type() == "string" && '
                f'@ like_regex "^-?[0-9]+([.][0-9]+)?$" && @.double() {symbol} $x))')
        return sa.func.jsonb_path_exists(self.friends.c.attributes, sa.cast(sa.literal(path), _JSONPATH),
                                         sa.cast(sa.literal(json.dumps({"x": expected})), postgresql.JSONB),
                                         sa.true(), type_=sa.Boolean)

    def _element_exists(self, name: str, expected: Any) -> Any:
        """A list attribute with an element equal to ``expected``."""
        attributes = self.friends.c.attributes
        if self.postgres:
            elements = sa.func.jsonb_array_elements(attributes.op("->")(sa.literal(name, sa.Text))).alias("el")
            element = sa.literal_column("el.value", type_=postgresql.JSONB)
            item = _Json(True, sa.func.jsonb_typeof(element), element)
        else:
            elements = sa.func.json_each(attributes, '$."' + name + '"').alias("el")
            item = _Json(False, sa.literal_column("el.type"), sa.literal_column("el.atom"))
        found = sa.exists(sa.select(sa.literal(1)).select_from(elements).where(_equal(item, expected)))
        # CASE, not AND: PostgreSQL may evaluate AND's operands in any order, and expanding a scalar fails
        return sa.case((self._value(name).is_array(), found), else_=sa.false())

    def _attribute(self, node: AttributeFilter) -> sa.ColumnElement[bool]:
        v, op, value = self._value(node.attribute), node.op, node.value
        if op == "exists":
            return _sure(v.present()) if value else sa.not_(_sure(v.present()))
        contains = self._contains(node.attribute)
        if contains is not None and op in ("eq", "ne", "in") and (value or op != "in") and \
                all(map(_contained, value if op == "in" else [value])):
            # bare containment (attributes is NOT NULL, so never unknown): no COALESCE around it, so
            # the planner sees the operator itself (and a GIN index on attributes could serve it)
            found = sa.or_(*(contains(item) for item in value)) if op == "in" else contains(value)
            return sa.not_(found) if op == "ne" else found
        if self.postgres and _is_number(value) and op in ("eq", "ne", "gt", "gte", "lt", "lte"):
            found = _sure(self._number_path(node.attribute, "eq" if op == "ne" else op, float(value)))
            return sa.not_(found) if op == "ne" else found
        if op == "ne":
            return sa.not_(_sure(sa.and_(v.present(), _equal(v, value, contains))))
        if op == "eq":
            return _sure(_equal(v, value, contains))
        if op == "in":
            return _sure(sa.or_(*(_equal(v, item, contains) for item in value))) if value else sa.false()
        if op == "contains":
            text = v.text()
            found = sa.func.strpos(text, needle(value)) > 0 if self.postgres else sa.func.instr(text, needle(value)) > 0
            return _sure(sa.or_(sa.and_(v.is_text(), found), self._element_exists(node.attribute, value)))
        if op in ("within", "before"):
            cutoff = iso_text(self.now - parse_duration(value))
            text = v.ordered_text()
            window = sa.and_(text >= cutoff, text <= iso_text(self.now)) if op == "within" else text < cutoff
            return _sure(sa.and_(v.is_text(), v.date_text(), window))
        return _sure(_compare(v, op, value))

    def _column(self, name: str) -> Any:
        if name in self.friends.c:
            return self.friends.c[name]
        return sa.null()  # a column another feature adds (route) before it exists: always absent

    def _field(self, node: FieldFilter) -> sa.ColumnElement[bool]:
        column, op, value = self._column(node.field), node.op, node.value
        if op == "exists":
            return column.is_not(None) if value else column.is_(None)
        if node.field in TIME_FIELDS:
            if op in ("within", "before"):
                cutoff = sa.literal(self.now - parse_duration(value), UTCDateTime())
                if op == "within":
                    return _sure(sa.and_(column >= cutoff, column <= sa.literal(self.now, UTCDateTime())))
                return _sure(column < cutoff)
            moment = sa.literal(parse_instant(value), UTCDateTime())
            if op == "ne":
                return sa.not_(_sure(column == moment))
            return _sure(column == moment if op == "eq" else _order(op, column, moment))
        if node.field == "opted_out":
            return column.is_(sa.true()) if bool(value) == (op == "eq") else column.is_(sa.false())
        ordered = sa.collate(column, "C") if self.postgres and not isinstance(column, sa.Null) else column
        if op == "eq":
            return _sure(column == value)
        if op == "ne":
            return sa.not_(_sure(column == value))
        if op == "in":
            return _sure(column.in_(value)) if value else sa.false()
        if op == "contains":
            found = sa.func.strpos(column, value) > 0 if self.postgres else sa.func.instr(column, value) > 0
            return _sure(found)
        return _sure(_order(op, ordered, value))


# the planner's size of a hashed subplan row (PostgreSQL's subplan_is_hashable: width + tuple header)
_HASHED_ROW_BYTES = 32
_HASH_MEM_MULTIPLIER = 2  # hash_mem_multiplier's default since PostgreSQL 15 (we never lower it)


def prepare_scan(session: Any) -> None:
    """Settings for a statement that scans every friend with a filter compiled with ``scan=True``
    (transaction-local, PostgreSQL only):

    - JIT off: PostgreSQL's JIT (triggered by the high cost estimate) spent more compiling the
      small expressions than running them (~1 s of a 1.5 s count);
    - work_mem large enough that a tag's friends (never more than the friends) always fit the
      planner's budget for a hashed subplan, so a tag condition is hashed once, never rescanned
      per friend. Only that hash table (ints) grows with it.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(sa.text("SET LOCAL jit = off"))
    friends = session.scalar(sa.text("SELECT reltuples FROM pg_class WHERE oid = 'friends'::regclass")) or 0
    budget_kb = int(max(friends, 0) * 2 * _HASHED_ROW_BYTES / _HASH_MEM_MULTIPLIER / 1024) + 1  # 2x: stale stats
    session.execute(sa.text(f"SET LOCAL work_mem = '{max(budget_kb, 4096)}kB'"))


def compile_filter(dialect: str, node: FilterNode | None, now: datetime,
                   segments: Mapping[str, FilterNode] | None = None, *, scan: bool = False) -> sa.ColumnElement[bool]:
    """The condition on ``friends`` selecting exactly the friends :func:`evaluate` accepts.

    ``scan``: the statement scans every friend (run :func:`prepare_scan` in its transaction first);
    otherwise the condition is for a page or a few friends found by key."""
    return Compiler(dialect, now, segments, scan=scan).condition(node)


def attribute_value(dialect: str, name: str) -> Any:
    """An attribute's value as SQL: JSONB on PostgreSQL (read back as the Python value), JSON1's
    extracted value on SQLite; NULL when missing (grouping by it: one row per distinct value)."""
    return Compiler(dialect, datetime.min)._value(name).raw
