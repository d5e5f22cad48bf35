"""Robustness limits on what admins and LINE may send (SPEC §12), in one place.

Every loader of staff-written YAML/JSON (scenarios today; segments, rule sets and rich menus
through the same loader) and every edge parsing ids or page numbers uses these.
"""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

from app.errors import BadRequest, SteplineError

MAX_DOCUMENT_BYTES = 256 * 1024  # one scenario/segment/rule document; larger: 413
MAX_DOCUMENT_NESTING = 64  # mappings/lists inside each other; deeper: 422
MAX_ALIAS_EXPANSION = 10_000  # nodes reachable through YAML aliases (billion laughs: 422)
MAX_REGEX_CHARS = 1000  # one keyword regex: bounds RE2's compile time and program size
MAX_REPORTED_ERRORS = 100  # validation errors listed per upload; the rest are counted
MAX_DB_INTEGER = 2**31 - 1  # ids are INTEGER columns (32-bit on PostgreSQL): a larger one names no row
MAX_PAGE = 1_000_000  # dashboard pagers: past this a page number is an error, not a query
MAX_IMPORT_COLUMNS = 500  # columns of a friends CSV (every field and then some); more: 422 at the header
MAX_COLUMN_NAME_CHARS = 100  # one CSV column name (it becomes an attribute name), as long as a field name


class DocumentTooLarge(SteplineError):
    """A document is over :data:`MAX_DOCUMENT_BYTES` (the edges answer 413)."""

    def __init__(self, name: str, size: int) -> None:
        self.name, self.size = name, size
        super().__init__(f"{name}: {size} bytes is over the limit of {MAX_DOCUMENT_BYTES} bytes per document")


def check_document_size(name: str, text: str | bytes) -> None:
    """Raise :class:`DocumentTooLarge` for a document over the limit (counted in UTF-8 bytes)."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(name, size)


class DatabaseIntConverter(IntegerConverter):
    """``<int:...>`` in URLs, limited to what an id column holds: larger ids are 404s, not a
    database error (PostgreSQL refuses 2**31 for INTEGER, SQLite 2**63)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max", MAX_DB_INTEGER)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def parse_count(value: str | None, name: str, *, default: int, maximum: int = MAX_DB_INTEGER) -> int:
    """A positive integer query argument (``?page=``, ``?before=``); 400 when not one or too large."""
    if value is None or value == "":
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 19 or not 1 <= int(value) <= maximum:
        raise BadRequest(f"{name} must be a whole number from 1 to {maximum}",
                         [{"path": name, "message": f"expected 1..{maximum}"}])
    return int(value)
