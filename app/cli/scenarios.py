"""``flask --app wsgi scenarios ...``: validate, load, inspect, preview and steer scenarios.

Thin wrappers over ``app.services.scenarios``. Errors print ``file:line:col: path: message``
lines (or ``error: ...``) on stderr and exit 1. Other modules add commands to
:data:`scenarios_group`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from app.delivery.audience import audience_size, enroll_audience
from app.errors import SteplineError
from app.extensions import db
from app.models.base import utcnow
from app.scenarios.errors import ScenarioInvalid
from app.services import scenarios as service

SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")


@click.group("scenarios")
def scenarios_group() -> None:
    """Scenario definitions: validate, load, list, show, preview, publish, pause, resume, ..."""


@contextmanager
def _reported_errors() -> Iterator[None]:
    """Domain errors → readable stderr lines and exit status 1."""
    try:
        yield
    except ScenarioInvalid as exc:
        for issue in exc.errors:
            click.echo(str(issue), err=True)
        raise SystemExit(1) from None
    except SteplineError as exc:
        click.echo(f"error: {exc}", err=True)
        for detail in getattr(exc, "details", []) or []:
            click.echo(f"  {detail.get('path', '')}: {detail.get('message', detail)}" if isinstance(detail, dict)
                       else f"  {detail}", err=True)
        raise SystemExit(1) from None


def _read_files(paths: tuple[str, ...]) -> list[tuple[str, str]]:
    """Files as given; a directory contributes its scenario files (sorted)."""
    files: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        members = sorted(p for p in path.iterdir() if p.suffix in SCENARIO_SUFFIXES) if path.is_dir() else [path]
        files.extend((str(p), p.read_text(encoding="utf-8")) for p in members)
    if not files:
        raise click.UsageError("no scenario files given")
    return files


_FILES = click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))


@scenarios_group.command("validate")
@_FILES
def validate(files: tuple[str, ...]) -> None:
    """Check scenario files without storing anything."""
    with _reported_errors(), db.session() as session:  # the database checks upload runs (segments, references)
        for scn in service.validate_against(session, _read_files(files)):
            click.echo(f"ok  {scn.id}  ({len(scn.steps)} steps, {len(scn.rules)} rules, status {scn.status})")


def _run_audiences(scenario_ids: list[str]) -> None:
    """Enroll existing friends of freshly published ``audience: all`` scenarios, with a progress bar."""
    for scenario_id in scenario_ids:
        with db.session() as session:
            size = audience_size(session, scenario_id)
            with click.progressbar(length=size, label=f"enrolling existing friends into {scenario_id}") as bar:
                entered = enroll_audience(session, scenario_id, utcnow(), progress=bar.update, commit=True)
            session.commit()
        click.echo(f"{scenario_id}: {entered} existing friends enrolled")


@scenarios_group.command("load")
@_FILES
def load(files: tuple[str, ...]) -> None:
    """Upload scenario files atomically (all or nothing) and apply each document's status."""
    with _reported_errors(), db.transaction() as session:
        result = service.upload(session, _read_files(files), utcnow())
        for item in result.scenarios:
            status = item.scenario.status
            moved = f" (was {item.previous_status})" if item.previous_status not in (None, status) else ""
            enrolled = f", {item.audience_enrolled} existing friends enrolled" if item.audience_enrolled else ""
            click.echo(f"{item.action:<9} {item.scenario.id}  v{item.version}  {status}{moved}{enrolled}")
            for row in item.impact:
                click.echo(f"          step {row.step_id}: {row.friends} friend(s) waiting ({row.change})")
        pending = result.audience_pending
    _run_audiences(pending)


@scenarios_group.command("list")
def list_command() -> None:
    """Every scenario with its status, version and enrollments."""
    with db.session() as session:
        counts = service.enrollment_counts(session)
        rows = service.list_scenarios(session)
    if not rows:
        click.echo("no scenarios")
    for s in rows:
        active = counts.get(s.id, {}).get("active", 0)
        click.echo(f"{s.id:<30} {s.status:<7} v{s.version:<3} {s.trigger:<16} {s.channel:<10} "
                   f"priority {s.priority:<4} active {active:<6} {s.name}")


@scenarios_group.command("show")
@click.argument("scenario_id")
def show(scenario_id: str) -> None:
    """A scenario's state, versions and current definition (as uploaded)."""
    with _reported_errors(), db.session() as session:
        s = service.get(session, scenario_id)
        versions = service.versions(session, scenario_id)
    click.echo(f"{s.id}: {s.name}\nstatus {s.status}" + (f" ({s.status_reason})" if s.status_reason else "")
               + f"\nchannel {s.channel}  trigger {s.trigger}  priority {s.priority}  version {s.version}")
    for v in versions:
        click.echo(f"  v{v.version}  {v.created_at:%Y-%m-%d %H:%M:%S}Z  {v.source_name}")
    current = next((v for v in versions if v.version == s.version), None)
    if current is not None:
        click.echo("---\n" + current.source.rstrip())


def _attribute(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"expected name=value, got {text!r}", param_hint="--attr")
    try:
        return name, json.loads(raw)  # numbers, true/false, quoted text
    except ValueError:
        return name, raw


@scenarios_group.command("preview")
@click.argument("scenario_id")
@click.option("--start", "start_text", required=True, help="ISO 8601 start date; no offset = scenario's zone")
@click.option("--attr", "attrs", multiple=True, help="friend attribute name=value (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print the preview as JSON")
def preview(scenario_id: str, start_text: str, attrs: tuple[str, ...], as_json: bool) -> None:
    """The exact delivery timeline for a start date, without sending anything."""
    try:
        start = datetime.fromisoformat(start_text)
    except ValueError:
        raise click.BadParameter(f"expected an ISO 8601 date-time, got {start_text!r}", param_hint="--start") from None
    attributes = dict(_attribute(a) for a in attrs)
    with _reported_errors(), db.session() as session:
        if start.tzinfo is None:
            start = start.replace(tzinfo=service.current_definition(session, scenario_id).tz)
        report = service.preview_report(session, scenario_id, start, attributes)
        entries = service.preview(session, scenario_id, start, attributes)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    click.echo(f"{scenario_id} v{report['version']} from {start.isoformat()} ({report['timezone']})"
               + ("" if report["filter_matches"] else "  [these attributes do not pass the filter]"))
    for entry in entries:
        click.echo(f"  {entry.step_id:<20} {entry.due_utc:%Y-%m-%d %H:%M:%S}Z  "
                   f"{entry.due_local:%Y-%m-%d %H:%M %a} local  {entry.messages_count} message(s)")


def _transition_command(action: str) -> Callable[[str], None]:
    def command(scenario_id: str) -> None:
        with _reported_errors(), db.transaction() as session:
            done = getattr(service, action)(session, scenario_id, utcnow())
            enrolled = f", {done.audience_enrolled} existing friends enrolled" if done.audience_enrolled else ""
            click.echo(f"{scenario_id}: {done.scenario.status}{enrolled}")
            pending = [scenario_id] if done.needs_audience else []
        _run_audiences(pending)

    command.__doc__ = {"publish": "Make a draft (or paused / error) scenario live.",
                       "pause": "Stop sending a live scenario until it is resumed.",
                       "resume": "Make a paused scenario live again."}[action]
    return command


for _action in ("publish", "pause", "resume"):
    scenarios_group.command(_action)(click.argument("scenario_id")(_transition_command(_action)))


@scenarios_group.command("duplicate")
@click.argument("scenario_id")
@click.argument("new_id")
def duplicate(scenario_id: str, new_id: str) -> None:
    """Copy a scenario's current version into a new draft."""
    with _reported_errors(), db.transaction() as session:
        copy = service.duplicate(session, scenario_id, new_id, utcnow())
        click.echo(f"{copy.id}: draft copy of {scenario_id}")


@scenarios_group.command("delete")
@click.argument("scenario_id")
def delete(scenario_id: str) -> None:
    """Delete a scenario that is not live (live scenarios enrolling into it go to error)."""
    with _reported_errors(), db.transaction() as session:
        errored = service.delete(session, scenario_id, utcnow())
    click.echo(f"{scenario_id}: deleted" + (f"; now in error: {', '.join(errored)}" if errored else ""))


@scenarios_group.command("enroll")
@click.argument("scenario_id")
@click.argument("user_ids", nargs=-1, required=True)
def enroll(scenario_id: str, user_ids: tuple[str, ...]) -> None:
    """Enroll friends (LINE user ids) into a live scenario now."""
    with _reported_errors(), db.transaction() as session:
        entered = service.enroll_manual(session, scenario_id, user_ids, utcnow())
    click.echo(f"{scenario_id}: {entered} of {len(set(user_ids))} friend(s) enrolled")


@scenarios_group.command("schema")
def schema() -> None:
    """Print the JSON Schema of scenario files (for editor completion)."""
    click.echo(json.dumps(service.scenario_json_schema(), ensure_ascii=False, indent=2))
