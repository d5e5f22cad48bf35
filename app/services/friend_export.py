"""Encrypted CSV export of friends (SPEC §8): an AES-256 (WinZip AES) ZIP holding ``friends.csv``.

Friends are read in id order ``batch_size`` at a time (keyset pagination) and written through
the ZIP's compressing, encrypting stream into a file object the caller provides (a temporary
file the response then streams): memory stays flat for a million rows. The selection and the
columns are checked first (:func:`check_export`, its own transaction), so the API refuses a bad
request before it spends the staff member's export window; :func:`write_export` reads in another.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any

import pyzipper
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import BadRequest
from app.extensions import db, redis_handle
from app.friends.fields import defined_fields, hidden_attributes
from app.friends.sql import FRIENDS, TAGS
from app.models.friends import FRIEND_BLOCKED
from app.services.contacts import Criteria, _selection

MIN_PASSWORD = 6
EXPORT_INTERVAL_S = 30 * 60
EXPORT_WINDOW_KEY = "stepline:export-throttle:{actor}"


def start_window(actor: str) -> int:
    """Seconds until ``actor`` may export again (0: now, and their window starts). Redis keeps
    the window, so every web process sees it; ``RedisError`` when it is down."""
    key = EXPORT_WINDOW_KEY.format(actor=actor)
    client = redis_handle.client
    if client.set(key, "1", nx=True, ex=EXPORT_INTERVAL_S):
        return 0
    return max(int(client.ttl(key)), 1)


def give_window_back(actor: str) -> None:
    """An export that failed exported nothing: the actor may try again at once."""
    redis_handle.client.delete(EXPORT_WINDOW_KEY.format(actor=actor))
BASE_COLUMNS = ("user_id", "display_name", "status", "opted_out", "followed_at", "last_message_at", "tags")


def _attribute_names(session: Session) -> list[str]:
    """Every attribute name in use or defined (fields first, in their order), archived ones left out."""
    fields = [f.name for f in defined_fields(session)]
    if session.get_bind().dialect.name == "postgresql":
        used = session.scalars(sa.text("SELECT DISTINCT jsonb_object_keys(attributes) FROM friends "
                                       "WHERE jsonb_typeof(attributes) = 'object'"))
    else:
        used = session.scalars(sa.text("SELECT DISTINCT je.key FROM friends, json_each(friends.attributes) AS je"))
    hidden = hidden_attributes(session)
    return fields + sorted(set(used) - set(fields) - hidden)


def check_export(select: Any, fields: Any) -> tuple[Criteria, list[str]]:
    """The selection (``{"filter"} | {"segment"} | {"user_ids"}``, None: everyone) and the CSV's
    columns (``fields``, None: every column and attribute), checked: 400 or 422 otherwise."""
    with db.read() as session:
        return _selection(session, select), _export_columns(session, fields)


def _export_columns(session: Session, wanted: Any) -> list[str]:
    """The wanted columns (``user_id`` always first), or all of them; an archived field is refused."""
    available = list(BASE_COLUMNS) + _attribute_names(session)
    if wanted is None:
        return available
    if not isinstance(wanted, list) or not wanted or not all(isinstance(w, str) for w in wanted):
        raise BadRequest("fields is invalid", [{"path": "fields", "message": "expected a list of column names"}])
    hidden = hidden_attributes(session)
    unknown = [w for w in wanted if w in hidden]
    if unknown:
        raise BadRequest("fields is invalid", [{"path": "fields", "message": f"unknown or archived field {u!r}"}
                                               for u in unknown])
    return list(dict.fromkeys(["user_id", *wanted]))


def check_request(reason: Any, password: Any) -> tuple[str, str]:
    """A reason is required and the password has at least six characters (400 otherwise)."""
    problems = []
    if not isinstance(reason, str) or not reason.strip():
        problems.append({"path": "reason", "message": "say why the friends are exported"})
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        problems.append({"path": "password", "message": f"expected a password of at least {MIN_PASSWORD} characters"})
    if problems:
        raise BadRequest("export refused", problems)  # type: ignore[arg-type]
    return str(reason).strip(), str(password)


def _cell(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def write_export(criteria: Criteria, columns: list[str], password: str, target: IO[bytes], now: datetime, *,
                 batch_size: int = 5000, progress: Callable[[int], None] | None = None) -> int:
    """Write the encrypted ZIP into ``target`` (the caller closes or removes it on failure), reading
    in one transaction; returns the number of friends written."""
    with db.read() as session:
        return _write(session, criteria, columns, password, target, now, batch_size, progress)


def _write(session: Session, criteria: Criteria, columns: list[str], password: str, target: IO[bytes],
           now: datetime, batch_size: int, progress: Callable[[int], None] | None) -> int:
    condition = criteria.condition(session, now)
    f = FRIENDS.c
    written = 0
    postgres = session.get_bind().dialect.name == "postgresql"
    tag_list = (sa.select(sa.func.string_agg(TAGS.c.tag, sa.literal_column("';' ORDER BY tag")))
                if postgres else sa.select(sa.func.group_concat(TAGS.c.tag, ";")))
    tags_column = tag_list.where(TAGS.c.friend_id == f.id).scalar_subquery() if "tags" in columns else sa.null()
    with pyzipper.AESZipFile(target, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(password.encode())
        zf.setencryption(pyzipper.WZ_AES, nbits=256)
        with zf.open("friends.csv", "w", force_zip64=True) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            writer = csv.writer(text)
            writer.writerow(columns)
            after = 0
            while True:
                rows = session.execute(
                    sa.select(f.id, f.user_id, f.display_name, f.status, f.opted_out, f.followed_at,
                              f.last_message_at, f.attributes, tags_column.label("tags"))
                    .where(condition, f.id > after).order_by(f.id).limit(batch_size)).all()
                if not rows:
                    break
                for row in rows:
                    attributes = row.attributes or {}
                    base = {"user_id": row.user_id, "display_name": row.display_name,
                            "status": "blocked" if row.status == FRIEND_BLOCKED else "active",
                            "opted_out": row.opted_out, "followed_at": row.followed_at,
                            "last_message_at": row.last_message_at,
                            "tags": ";".join(sorted(row.tags.split(";"))) if row.tags else ""}
                    writer.writerow([_cell(base[c] if c in base else attributes.get(c)) for c in columns])
                written += len(rows)
                after = rows[-1].id
                if progress is not None:
                    progress(len(rows))
            text.flush()
            text.detach()
    return written
