"""``flask --app wsgi fields|segments|friends ...``: thin wrappers over the contact services (SPEC §8)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from app.admin.auth import audit_note
from app.cli.scenarios import _reported_errors
from app.friends.errors import Invalid
from app.models.base import utcnow
from app.services import contacts, friend_export, friend_import
from app.services import fields as fields_service
from app.services import segments as segments_service

SEGMENT_SUFFIXES = (".yaml", ".yml", ".json")


@click.group("fields", cls=AppGroup)
def fields_group() -> None:
    """Typed friend attributes: list, set, archive, restore."""


@fields_group.command("list")
@click.option("--all", "include_archived", is_flag=True, help="include archived fields")
def fields_list(include_archived: bool) -> None:
    """Fields in display order."""
    for field in fields_service.list_fields(include_archived):
        extra = f" [{', '.join(field['choices'])}]" if field["choices"] else ""
        archived = "  (archived)" if field["archived"] else ""
        click.echo(f"{field['position']:>4}  {field['name']}  {field['type']}{extra}  {field['label'] or ''}{archived}")


@fields_group.command("set")
@click.argument("name")
@click.option("--type", "type_", type=click.Choice(["text", "number", "date", "datetime", "bool", "choice"]))
@click.option("--label")
@click.option("--choice", "choices", multiple=True, help="an allowed value of a choice field (repeat)")
@click.option("--position", type=int)
def fields_set(name: str, type_: str | None, label: str | None, choices: tuple[str, ...], position: int | None) -> None:
    """Create or change the field NAME."""
    body = {k: v for k, v in {"type": type_, "label": label, "choices": list(choices) or None,
                              "position": position}.items() if v is not None}
    with _reported_errors():
        field, created = fields_service.put_field(name, body, utcnow())
        click.echo(f"{'created' if created else 'updated'} {field['name']} ({field['type']})")


def _archive(name: str, archived: bool) -> None:
    with _reported_errors():
        fields_service.set_archived(name, archived, utcnow())
    click.echo(f"{'archived' if archived else 'restored'} {name}")


@fields_group.command("archive")
@click.argument("name")
def fields_archive(name: str) -> None:
    """Hide NAME and refuse writes to it; its values are kept."""
    _archive(name, True)


@fields_group.command("restore")
@click.argument("name")
def fields_restore(name: str) -> None:
    """Show NAME again, with the values it had."""
    _archive(name, False)


@click.group("segments", cls=AppGroup)
def segments_group() -> None:
    """Saved filters: load files, list with counts, delete."""


@segments_group.command("load")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def segments_load(paths: tuple[str, ...]) -> None:
    """Load segment files (default: the segments/ directory); all or nothing."""
    files: list[Path] = []
    for raw in paths or ("segments",):
        path = Path(raw)
        if not path.exists():
            raise click.UsageError(f"{raw} does not exist")
        files += sorted(p for p in path.iterdir() if p.suffix in SEGMENT_SUFFIXES) if path.is_dir() else [path]
    with _reported_errors():
        for segment, created in segments_service.load_files(files, utcnow()):
            click.echo(f"{'created' if created else 'updated'} {segment['id']}")


@segments_group.command("list")
def segments_list() -> None:
    """Every segment with the number of friends it holds now."""
    for row in segments_service.list_segments(utcnow()):
        click.echo(f"{row['id']}  {row['count']:>8}  {row['name']}")


@segments_group.command("delete")
@click.argument("segment_id")
def segments_delete(segment_id: str) -> None:
    """Delete a segment nothing uses."""
    with _reported_errors():
        segments_service.delete_segment(segment_id)
    click.echo(f"deleted {segment_id}")


@click.group("friends", cls=AppGroup)
def friends_group() -> None:
    """Friends: import and export CSV, bulk actions."""


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


@friends_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--channel", default="default")
def friends_import(file: Path, channel: str) -> None:
    """Upsert friends from a CSV FILE (header with user_id); one bad cell changes nothing."""
    total = _count_lines(file)
    with _reported_errors(), file.open("rb") as stream, \
            click.progressbar(length=total, label="importing", file=sys.stderr) as bar:
        seen = [0]

        def progress(row: int) -> None:
            bar.update(row - seen[0])
            seen[0] = row

        try:
            result = friend_import.import_csv(friend_import.text_lines(stream), utcnow(), channel=channel,
                                              progress=progress)
        except Invalid as exc:
            click.echo("", err=True)
            for detail in exc.details[:50]:
                click.echo(f"row {detail['row']}, column {detail['column']}: {detail['message']}", err=True)
            raise
    click.echo(json.dumps(result.to_dict()))


@friends_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reason", required=True, help="why the friends are exported (audited)")
@click.option("--password-stdin", is_flag=True, help="read the ZIP password from stdin")
@click.option("--field", "fields", multiple=True, help="a column to export (repeat; default: all)")
@click.option("--filter", "filter_json", help="a JSON filter selecting the friends (default: all)")
def friends_export(file: Path, reason: str, password_stdin: bool, fields: tuple[str, ...],
                   filter_json: str | None) -> None:
    """Write an AES-256 encrypted ZIP holding friends.csv to FILE."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else \
        click.prompt("ZIP password", hide_input=True, confirmation_prompt=True, err=True)
    with _reported_errors():
        friend_export.check_request(reason, password)
        with file.open("wb") as target:
            select = {"filter": json.loads(filter_json)} if filter_json else None
            criteria, columns = friend_export.check_export(select, list(fields) or None)
            rows = friend_export.write_export(criteria, columns, password, target, utcnow())
    audit_note(reason=reason, rows=rows, columns=columns)
    click.echo(f"exported {rows} friends to {file}")


@friends_group.command("bulk")
@click.argument("action", type=click.Choice(contacts.BULK_ACTIONS))
@click.option("--value", help="the tag or scenario id the action needs")
@click.option("--filter", "filter_json", help="a JSON filter")
@click.option("--segment", help="a segment id")
@click.option("--user-id", "user_ids", multiple=True, help="a user id (repeat)")
@click.option("--yes", is_flag=True, help="act without asking")
def friends_bulk(action: str, value: str | None, filter_json: str | None, segment: str | None,
                 user_ids: tuple[str, ...], yes: bool) -> None:
    """Apply ACTION to the selected friends (shows the impact and asks first)."""
    select = {"filter": json.loads(filter_json)} if filter_json else {"segment": segment} if segment else \
        {"user_ids": list(user_ids)} if user_ids else None
    body = {"select": select, "action": action, "value": value}
    with _reported_errors():
        impact = contacts.bulk(body, utcnow(), dry_run=True)
        click.echo(json.dumps(impact))
        if not yes and not click.confirm(f"{action} {impact['matched']} friends?", err=True):
            raise SystemExit(1)
        click.echo(json.dumps(contacts.bulk(body, utcnow())))
