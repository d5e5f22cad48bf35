"""CSV import of friends (SPEC §8): upsert by ``user_id``, all or nothing, streamed in batches.

The file is read once, ``batch_size`` rows at a time, each batch written inside the import's one
transaction; every bad cell is collected and, if there is any, that transaction is rolled back
by the :class:`~app.friends.errors.Invalid` raised at the end, so nothing changes. Memory stays
flat whatever the file's length: one batch and the error list (capped) are held.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.dialect import among, insert_for, is_postgres, plain_rows
from app.extensions import db
from app.friends import bulk_pg
from app.friends.errors import Invalid
from app.friends.fields import FieldSpec, FieldValueError, _bool, coerce, field_specs
from app.friends.sql import FRIENDS, TAGS
from app.limits import MAX_COLUMN_NAME_CHARS, MAX_IMPORT_COLUMNS
from app.models.friends import FRIEND_ACTIVE

MAX_ERRORS = 10_000
COLUMNS = ("user_id", "tags", "opted_out", "followed_at", "display_name")
Progress = Callable[[int], None]


@dataclass
class ImportResult:
    """What an import did: friends created, updated and left as they were."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class _Row:
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    opted_out: bool | None = None
    followed_at: datetime | None = None
    display_name: str | None = None


def text_lines(stream: IO[bytes]) -> Iterator[str]:
    """UTF-8 lines (a BOM is dropped) from a byte stream."""
    return iter(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))


class _Importer:
    def __init__(self, session: Session, now: datetime, channel: str, specs: dict[str, FieldSpec]) -> None:
        self.session, self.now, self.channel, self.specs = session, now, channel, specs
        self.errors: list[dict[str, object]] = []
        self.result = ImportResult()

    def error(self, row: int, column: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"row": row, "column": column, "message": message})

    def header(self, names: list[str]) -> list[str]:
        names = [name.strip() for name in names]
        if len(names) > MAX_IMPORT_COLUMNS:
            self.error(1, "*", f"{len(names)} columns: at most {MAX_IMPORT_COLUMNS} (user_id, the built-in "
                               "columns and your fields); split the file by columns")
            return names
        if "user_id" not in names:
            self.error(1, "user_id", "the header row needs a user_id column")
        seen: set[str] = set()
        for index, name in enumerate(names):
            if not name:
                self.error(1, f"#{index + 1}", "empty column name")
            elif len(name) > MAX_COLUMN_NAME_CHARS or "\x00" in name:
                self.error(1, f"#{index + 1}", f"a column name is 1-{MAX_COLUMN_NAME_CHARS} characters, no NUL")
            elif name in seen:
                self.error(1, name, "column appears twice")
            elif name not in COLUMNS and self.specs.get(name) is not None and self.specs[name].archived:
                self.error(1, name, "the field is archived: restore it before importing into it")
            seen.add(name)
        return names

    def parse(self, number: int, names: list[str], cells: list[str]) -> tuple[str, _Row] | None:
        if len(cells) != len(names):
            self.error(number, "*", f"expected {len(names)} cells, found {len(cells)}")
            return None
        parsed = _Row()
        user_id = ""
        for name, raw in zip(names, cells, strict=True):
            cell = raw.strip()
            if "\x00" in cell:  # no database stores it in text
                self.error(number, name, "the cell contains a NUL character (U+0000): remove it")
                continue
            if name == "user_id":
                user_id = cell
                if not cell or len(cell) > 64:
                    self.error(number, name, "expected a user id (1-64 characters)")
            elif not cell:
                continue
            elif name == "tags":
                parsed.tags = [t.strip() for t in cell.split(";") if t.strip()]
                if any(len(t) > 100 for t in parsed.tags):
                    self.error(number, name, "a tag is longer than 100 characters")
            elif name == "opted_out":
                try:
                    parsed.opted_out = _bool(cell)
                except FieldValueError as exc:
                    self.error(number, name, str(exc))
            elif name == "followed_at":
                try:
                    moment = datetime.fromisoformat(cell)
                    parsed.followed_at = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
                except ValueError:
                    self.error(number, name, "expected an ISO 8601 date-time")
            elif name == "display_name":
                parsed.display_name = cell[:200]
            elif name in self.specs:
                try:
                    parsed.attributes[name] = coerce(self.specs[name], cell)
                except FieldValueError as exc:
                    self.error(number, name, str(exc))
            else:
                parsed.attributes[name] = cell  # an attribute without a field: text, as before
        return (user_id, parsed) if user_id else None

    def write(self, batch: dict[str, _Row]) -> None:
        session = self.session
        if is_postgres(session):  # one statement: the database merges with what it stores
            new, stored, changed = bulk_pg.merge_batch(session, self.channel, batch, self.now)
            self.result.created += new
            self.result.updated += changed
            self.result.unchanged += stored - changed
            return
        existing = {row.user_id: row for row in plain_rows(session.execute(
            sa.select(FRIENDS.c.id, FRIENDS.c.user_id, FRIENDS.c.attributes, FRIENDS.c.opted_out,
                      FRIENDS.c.followed_at, FRIENDS.c.display_name)
            .where(FRIENDS.c.channel == self.channel, among(session, FRIENDS.c.user_id, list(batch)))))}
        known_tags: set[tuple[int, str]] = set()
        if existing:
            known_tags = {(fid, tag) for fid, tag in session.execute(sa.select(TAGS.c.friend_id, TAGS.c.tag).where(
                among(session, TAGS.c.friend_id, [row.id for row in existing.values()])))}
        inserts, updates, tag_rows = [], [], []
        for user_id, parsed in batch.items():
            old = existing.get(user_id)
            if old is None:
                inserts.append({"channel": self.channel, "user_id": user_id, "display_name": parsed.display_name,
                                "status": FRIEND_ACTIVE, "opted_out": bool(parsed.opted_out),
                                "followed_at": parsed.followed_at, "attributes": parsed.attributes,
                                "created_at": self.now, "updated_at": self.now})
                continue
            attributes = {**(old.attributes or {}), **parsed.attributes}
            new_tags = [t for t in parsed.tags if (old.id, t) not in known_tags]
            row = {"f_id": old.id, "attributes": attributes,
                   "opted_out": old.opted_out if parsed.opted_out is None else parsed.opted_out,
                   "followed_at": parsed.followed_at or old.followed_at,
                   "display_name": parsed.display_name or old.display_name}
            if (row["attributes"], row["opted_out"], row["followed_at"], row["display_name"]) != \
                    (old.attributes or {}, old.opted_out, old.followed_at, old.display_name):
                updates.append(row)
            elif new_tags:
                self.result.updated += 1
            else:
                self.result.unchanged += 1
            tag_rows += [{"friend_id": old.id, "tag": t, "created_at": self.now} for t in new_tags]
        self.result.updated += len(updates)
        self.result.created += len(inserts)
        if inserts:
            statement = sa.insert(FRIENDS).returning(FRIENDS.c.user_id, FRIENDS.c.id)
            created: dict[str, int] = {uid: fid for uid, fid in session.execute(statement, inserts)}
            tag_rows += [{"friend_id": created[uid], "tag": t, "created_at": self.now}
                         for uid, parsed in batch.items() if uid in created for t in parsed.tags]
        if updates:
            session.execute(sa.update(FRIENDS).where(FRIENDS.c.id == sa.bindparam("f_id")).values(
                attributes=sa.bindparam("attributes"), opted_out=sa.bindparam("opted_out"),
                followed_at=sa.bindparam("followed_at"), display_name=sa.bindparam("display_name"),
                updated_at=self.now), updates)
        if tag_rows:
            session.execute(insert_for(session)(TAGS).on_conflict_do_nothing(
                index_elements=["friend_id", "tag"]), tag_rows)


def import_csv(lines: Iterator[str], now: datetime, *, channel: str = "default", batch_size: int = 5000,
               progress: Progress | None = None) -> ImportResult:
    """Upsert every row of a CSV (header with ``user_id``) in one transaction; ``progress`` is told
    the row number reached after each batch and at the end.

    Raises :class:`Invalid` with ``[{"row", "column", "message"}]`` (the header is row 1) for every
    bad cell, after rolling back, so a file with one bad cell changes nothing.
    """
    with db.transaction() as session:
        return _import(session, lines, now, channel, batch_size, progress)


def _import(session: Session, lines: Iterator[str], now: datetime, channel: str, batch_size: int,
            progress: Progress | None) -> ImportResult:
    importer = _Importer(session, now, channel, field_specs(session))
    reader = csv.reader(lines)
    # the database writes a batch (in its own process) while this thread parses the next one; only
    # the writer thread touches the session until it is joined
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer") as writer:
        written: Future[None] | None = None

        def hand_on(batch: dict[str, _Row]) -> None:
            nonlocal written
            if written is not None:
                written.result()
            written = None if importer.errors else writer.submit(importer.write, batch)

        try:
            names = importer.header(next(reader, []))
            batch: dict[str, _Row] = {}
            number = 1
            for number, cells in enumerate(reader, start=2):
                if not any(cell.strip() for cell in cells):
                    continue
                parsed = importer.parse(number, names, cells)
                if parsed is not None:
                    user_id, row = parsed
                    if user_id in batch:  # a later row of the same friend adds to the earlier one
                        earlier = batch[user_id]
                        row.attributes = {**earlier.attributes, **row.attributes}
                        row.tags = earlier.tags + row.tags
                    batch[user_id] = row
                if len(batch) >= batch_size:
                    hand_on(batch)
                    batch = {}
                    if progress is not None:
                        progress(number)
            if batch:
                hand_on(batch)
            if progress is not None:
                progress(number)
        except UnicodeDecodeError:
            importer.error(0, "*", "the file is not UTF-8 text")
        except csv.Error as exc:
            importer.error(reader.line_num, "*", f"not a CSV file: {exc}")
        finally:
            if written is not None:
                written.result()
    if importer.errors:
        raise Invalid(f"import refused: {len(importer.errors)} bad cell(s), nothing was changed", importer.errors)
    return importer.result
