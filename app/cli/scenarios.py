"""``flask --app wsgi scenarios ...``: validate, load, inspect, preview and steer scenarios.

Thin wrappers over ``app.services.scenarios``. Errors print ``file:line:col: path: message``
lines (or ``error: ...``) on stderr and exit 1. Other modules add commands to
:data:`scenarios_group`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from app.config import bound_settings
from app.errors import SteplineError
from app.models.base import utcnow
from app.scenarios.errors import ScenarioInvalid
from app.scenarios.timeline import parse_start
from app.services import scenarios as service
from app.services.audit import record_cli

SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")


@click.group("scenarios", cls=AppGroup)  # commands run inside the app context
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


def _channels() -> list[str]:
    """The configured channels (those with credentials): a scenario naming another is refused."""
    settings = bound_settings()
    return sorted(settings.channels) if settings is not None else []


def _warn(warnings: list[Any]) -> None:
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


@scenarios_group.command("validate")
@_FILES
def validate(files: tuple[str, ...]) -> None:
    """Check scenario files without storing anything (the very checks an upload runs)."""
    texts = _read_files(files)
    with _reported_errors():
        try:
            checked = service.check(texts, channels=_channels(), nearby=_nearby_ids(texts))
        except SQLAlchemyError as exc:  # e.g. CI without a migrated database: check the files among themselves
            click.echo(f"warning: database unavailable ({type(exc).__name__}): scenarios already uploaded, "
                       "segments and fields are not checked", err=True)
            checked = service.check_files(texts, channels=_channels(), nearby=_nearby_ids(texts))
    _warn(checked.warnings)
    for scn in checked.defs:
        click.echo(f"ok  {scn.id}  ({len(scn.steps)} steps, {len(scn.rules)} rules, status {scn.status})")


def _nearby_ids(files: list[tuple[str, str]]) -> set[str]:
    """Ids of the scenario files beside the ones given: suggestions for a mistyped ``enroll:``."""
    ids: set[str] = set()
    for directory in {Path(name).parent for name, _ in files}:
        for path in directory.iterdir():
            if path.suffix in SCENARIO_SUFFIXES and path.stat().st_size <= 256 * 1024:
                match = _ID_LINE.search(path.read_text(encoding="utf-8", errors="replace"))
                if match:
                    ids.add(match.group(1))
    return ids


_ID_LINE = re.compile(r'^id\s*:\s*["\']?([a-z0-9-]+)', re.MULTILINE)  # a top-level YAML id
_YES = click.option("--yes", "-y", is_flag=True, help="act without asking (after printing the impact)")
_FORCE = click.option("--force", is_flag=True, help="act even when the messages due now exceed the quota left")


def interactive() -> bool:
    """Whether a person can answer a prompt (tests replace this)."""
    return sys.stdin.isatty()


def _impact_line(impact: dict[str, Any]) -> str:
    left = "unlimited" if impact["quota_left"] is None else impact["quota_left"]
    return (f"would enroll {impact['would_enroll']} friend(s), {impact['messages_due_now']} message(s) due now, "
            f"quota left {left}" + (" (estimated: too many distinct start dates to count each)"
                                    if impact.get("estimated") else ""))


def confirm_or_stop(question: str, *, yes: bool, force: bool, over_quota: bool) -> bool:
    """After the impact is printed: go on (returns whether to force the quota guard) or exit 1.

    ``--yes`` skips the question; without a terminal and without ``--yes`` nothing is done. Beyond
    the quota left, ``--yes`` alone is not enough (like the API's 409): ``--force`` or a person's yes.
    """
    if over_quota:
        click.echo("warning: the messages due now exceed the quota left this month", err=True)
    if yes:
        if over_quota and not force:
            click.echo("refusing: over the quota left; run again with --force to send anyway", err=True)
            raise SystemExit(1)
        return force
    if not interactive():
        click.echo("refusing to act without confirmation: no terminal to ask on; review the impact above and "
                   "run again with --yes", err=True)
        raise SystemExit(1)
    if not click.confirm(question, default=False):
        click.echo("nothing done")
        raise SystemExit(1)
    return True


def _run_audiences(scenario_ids: list[str]) -> None:
    """Enroll existing friends of freshly published ``audience: all`` scenarios, with a progress bar."""
    for scenario_id in scenario_ids:
        entered = service.enroll_audience(scenario_id, utcnow(), progress=_progress_bar(scenario_id))
        click.echo(f"{scenario_id}: {entered} existing friends enrolled")


def _progress_bar(scenario_id: str) -> Callable[[int], AbstractContextManager[Callable[[int], None]]]:
    """Given the audience's size, a bar on the terminal that each enrolled batch advances."""

    @contextmanager
    def bar(size: int) -> Iterator[Callable[[int], None]]:
        with click.progressbar(length=size, label=f"enrolling existing friends into {scenario_id}") as shown:
            yield shown.update

    return bar


@scenarios_group.command("load")
@_FILES
@_YES
@_FORCE
def load(files: tuple[str, ...], yes: bool, force: bool) -> None:
    """Upload scenario files atomically (all or nothing) and apply each document's status.

    Status changes and the impact are printed first, then you are asked (``--yes`` skips it).
    """
    texts = _read_files(files)
    with _reported_errors():
        plans, warnings = service.upload_impact(texts, utcnow(), channels=_channels())
    _warn(warnings)
    for plan in plans:
        if plan.status_change:
            click.echo(f"status    {plan.scenario_id}: {plan.status_change['from']} -> {plan.status_change['to']}")
    for plan in plans:
        click.echo(f"{plan.action:<9} {plan.scenario_id}  v{plan.version}  {_impact_line(plan.impact.to_dict())}")
    forced = confirm_or_stop(f"Upload {len(plans)} scenario(s)?", yes=yes, force=force,
                             over_quota=any(plan.impact.over_quota for plan in plans))
    with _reported_errors():
        result = service.upload(texts, utcnow(), force=forced, channels=_channels())
    for item in result.scenarios:
        status = item.scenario.status
        moved = f" (was {item.previous_status})" if item.previous_status not in (None, status) else ""
        enrolled = f", {item.audience_enrolled} existing friends enrolled" if item.audience_enrolled else ""
        click.echo(f"{item.action:<9} {item.scenario.id}  v{item.version}  {status}{moved}{enrolled}")
        for row in item.impact:
            click.echo(f"          step {row.step_id}: {row.friends} friend(s) waiting ({row.change})")
    pending = result.audience_pending
    record_cli("scenarios.load", ",".join(item.scenario.id for item in result.scenarios), files=len(files))
    _run_audiences(pending)


@scenarios_group.command("list")
def list_command() -> None:
    """Every scenario with its status, version and enrollments."""
    rows = service.list_scenarios()
    if not rows:
        click.echo("no scenarios")
    for s in rows:
        active = (s.enrollments or {}).get("active", 0)
        click.echo(f"{s.id:<30} {s.status:<7} v{s.version:<3} {s.trigger:<16} {s.channel:<10} "
                   f"priority {s.priority:<4} active {active:<6} {s.name}")


@scenarios_group.command("show")
@click.argument("scenario_id")
def show(scenario_id: str) -> None:
    """A scenario's state, versions and current definition (as uploaded)."""
    with _reported_errors():
        detail = service.scenario_detail(scenario_id)
    s, versions = detail.scenario, detail.versions
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
        start = parse_start(start_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--start") from None
    attributes = dict(_attribute(a) for a in attrs)
    with _reported_errors():
        report = service.preview_report(scenario_id, start, attributes, channels=_channels())
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    for problem in report.errors:
        click.echo(f"error: {problem.path}: {problem.message}", err=True)
    for problem in report.warnings:
        click.echo(f"warning: {problem.path}: {problem.message}", err=True)
    click.echo(f"{scenario_id} v{report.version} from {report.start.isoformat()} ({report.timezone})"
               + ("" if report.filter_matches else "  [these attributes do not pass the filter]"))
    for entry in report.timeline:
        click.echo(f"  {entry.step_id:<20} {entry.due_utc:%Y-%m-%d %H:%M:%S}Z  "
                   f"{entry.due_local:%Y-%m-%d %H:%M %a} local  {entry.messages_count} message(s)"
                   + (f"  [skipped: {entry.skipped}]" if entry.skipped else ""))


def _transition_command(action: str) -> Callable[..., None]:
    def command(scenario_id: str, yes: bool = True, force: bool = False) -> None:
        forced = force
        if action != "pause":  # going live: impact first
            with _reported_errors():
                plan = service.transition_impact(scenario_id, action, utcnow())
            click.echo(f"{scenario_id}: {plan.status_change['from']} -> {plan.status_change['to']}: "
                       + _impact_line(plan.impact.to_dict()))
            forced = confirm_or_stop(f"{action.capitalize()} {scenario_id}?", yes=yes, force=force,
                                     over_quota=plan.impact.over_quota)
        with _reported_errors():
            done = service.transition(scenario_id, action, utcnow(), force=forced)
        enrolled = f", {done.audience_enrolled} existing friends enrolled" if done.audience_enrolled else ""
        click.echo(f"{scenario_id}: {done.scenario.status}{enrolled}")
        pending = [scenario_id] if done.needs_audience else []
        record_cli(f"scenarios.{action}", scenario_id)
        _run_audiences(pending)

    command.__doc__ = {"publish": "Make a draft (or paused / error) scenario live.",
                       "pause": "Stop sending a live scenario until it is resumed.",
                       "resume": "Make a paused scenario live again."}[action]
    return command


scenarios_group.command("pause")(click.argument("scenario_id")(_transition_command("pause")))
for _action in ("publish", "resume"):
    scenarios_group.command(_action)(_FORCE(_YES(click.argument("scenario_id")(_transition_command(_action)))))


@scenarios_group.command("duplicate")
@click.argument("scenario_id")
@click.argument("new_id")
def duplicate(scenario_id: str, new_id: str) -> None:
    """Copy a scenario's current version into a new draft."""
    with _reported_errors():
        copy = service.duplicate(scenario_id, new_id, utcnow())
    click.echo(f"{copy.id}: draft copy of {scenario_id}")
    record_cli("scenarios.duplicate", scenario_id, new_id=new_id)


@scenarios_group.command("delete")
@click.argument("scenario_id")
def delete(scenario_id: str) -> None:
    """Delete a scenario that is not live (live scenarios enrolling into it go to error)."""
    with _reported_errors():
        errored = service.delete(scenario_id, utcnow())
    record_cli("scenarios.delete", scenario_id)
    click.echo(f"{scenario_id}: deleted" + (f"; now in error: {', '.join(errored)}" if errored else ""))


@scenarios_group.command("enroll")
@click.argument("scenario_id")
@click.argument("user_ids", nargs=-1, required=True)
def enroll(scenario_id: str, user_ids: tuple[str, ...]) -> None:
    """Enroll friends (LINE user ids) into a live scenario now."""
    with _reported_errors():
        entered = service.enroll_manual(scenario_id, user_ids, utcnow())
    record_cli("scenarios.enroll", scenario_id, requested=len(set(user_ids)), enrolled=entered)
    click.echo(f"{scenario_id}: {entered} of {len(set(user_ids))} friend(s) enrolled")


@scenarios_group.command("schema")
def schema() -> None:
    """Print the JSON Schema of scenario files (for editor completion)."""
    click.echo(json.dumps(service.scenario_json_schema(), ensure_ascii=False, indent=2))
