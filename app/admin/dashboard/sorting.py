"""Server-side table sorting: ``?sort=column`` ascending, ``?sort=-column`` descending (no JS)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Sort:
    """The parsed ``?sort=``: which column and which way."""

    column: str
    descending: bool

    @property
    def param(self) -> str:
        return ("-" if self.descending else "") + self.column

    def link(self, column: str) -> str:
        """The ``sort`` value a header links to: the same column flips, another starts ascending."""
        if column == self.column:
            return column if self.descending else f"-{column}"
        return column


def parse_sort(value: str | None, columns: Sequence[str], default: str) -> Sort:
    """A known column (``-`` prefix for descending), else ``default``."""
    raw = (value or "").strip()
    descending = raw.startswith("-")
    column = raw.lstrip("-")
    if column not in columns:
        return Sort(default.lstrip("-"), default.startswith("-"))
    return Sort(column, descending)


def sort_rows(rows: Sequence[T], sort: Sort, keys: dict[str, Callable[[T], Any]]) -> list[T]:
    """Rows ordered by ``keys[sort.column]``; rows whose key is None go last either way."""
    key = keys[sort.column]
    present = [row for row in rows if key(row) is not None]
    missing = [row for row in rows if key(row) is None]
    return sorted(present, key=key, reverse=sort.descending) + missing
