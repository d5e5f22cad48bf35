"""The dashboard's AND/OR filter builder: numbered form rows ↔ a filter tree (no JavaScript).

Each row is ``k<i>`` (attribute | field | tag | segment), ``n<i>`` (name), ``o<i>`` (operator) and
``v<i>`` (value); ``match`` joins the rows with ``all`` or ``any``. Values are read as JSON
scalars when they look like one (``3``, ``true``), else as text; ``in`` takes a comma list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

KINDS = ("attribute", "field", "tag", "segment")
ATTRIBUTE_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "exists", "within", "before")
MEMBER_OPS = ("is", "is_not")
FIELD_NAMES = ("followed_at", "last_message_at", "status", "opted_out", "display_name", "route")
MAX_ROWS = 20


@dataclass
class Row:
    kind: str = "attribute"
    name: str = ""
    op: str = "eq"
    value: str = ""


@dataclass
class Builder:
    """The builder's state as the form shows it, and the tree it stands for."""

    match: str = "all"
    rows: list[Row] = field(default_factory=list)

    def tree(self) -> dict[str, Any] | None:
        nodes = [node for node in (_node(row) for row in self.rows) if node is not None]
        if not nodes:
            return None
        return nodes[0] if len(nodes) == 1 else {self.match: nodes}


def _scalar(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, bool | int | float | str) else text


def _node(row: Row) -> dict[str, Any] | None:
    if not row.name:
        return None
    if row.kind in ("tag", "segment"):
        node: dict[str, Any] = {row.kind: row.name}
        return {"not": node} if row.op == "is_not" else node
    if row.op == "in":
        value: Any = [_scalar(part.strip()) for part in row.value.split(",") if part.strip()]
    elif row.op == "exists":
        value = row.value.strip().lower() not in ("false", "0", "no")
    elif row.op in ("within", "before"):
        value = row.value.strip()
    else:
        value = _scalar(row.value.strip())
    if row.kind == "field" and row.op not in ("within", "before", "exists", "in") and row.name != "opted_out":
        value = row.value.strip()  # the friend's own columns compare as text or dates
    return {row.kind: row.name, row.op: value}


def from_form(values: MultiDict[str, str]) -> Builder:
    """The builder rows posted (or in the query string), plus one blank row to add a condition."""
    builder = Builder(match="any" if values.get("match") == "any" else "all")
    try:
        count = min(int(values.get("rows", "1")), MAX_ROWS)
    except ValueError:
        count = 1
    for i in range(max(count, 1)):
        kind = values.get(f"k{i}", "attribute")
        builder.rows.append(Row(kind if kind in KINDS else "attribute", values.get(f"n{i}", "").strip(),
                                values.get(f"o{i}", "eq"), values.get(f"v{i}", "")))
    if values.get("add"):
        builder.rows.append(Row())
    builder.rows = [row for row in builder.rows if row.name or row is builder.rows[-1]]
    if builder.rows[-1].name:
        builder.rows.append(Row())
    return builder
