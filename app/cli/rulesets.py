"""``flask --app wsgi rulesets ...``: validate, load, list, pause and resume rule sets (files under ``rules/``)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.cli.scenarios import _read_files, _reported_errors
from app.current import current_settings
from app.models.base import utcnow
from app.services import rulesets as service


@click.group("rulesets")
def rulesets_group() -> None:
    """Account-wide keyword / postback rules (自動応答)."""


def _channels() -> set[str]:
    return set(current_settings().channels)


@rulesets_group.command("validate")
@click.argument("paths", nargs=-1, required=True)
@with_appcontext
def validate(paths: tuple[str, ...]) -> None:
    """Check rule set files (the same checks as load) without storing anything."""
    files = _read_files(paths)
    with _reported_errors():
        defs = service.validate(files, _channels())
    for ruleset in defs:
        click.echo(f"ok: {ruleset.id} ({len(ruleset.rules)} rules)")


@rulesets_group.command("load")
@click.argument("paths", nargs=-1, required=True)
@with_appcontext
def load(paths: tuple[str, ...]) -> None:
    """Store rule set files atomically (one invalid file changes nothing)."""
    files = _read_files(paths)
    with _reported_errors():
        items = service.upload(files, utcnow(), _channels())
    for item in items:
        click.echo(f"{item.action}: {item.ruleset['id']} v{item.version} ({item.ruleset['status']})")


@rulesets_group.command("list")
def list_command() -> None:
    """Every rule set with its status, priority and version."""
    for row in service.list_rulesets():
        click.echo(f"{row['id']}\t{row['status']}\tpriority={row['priority']}\tv{row['version']}\t{row['channel']}"
                   f"\t{row['name']}")


def _set(ruleset_id: str, live: bool) -> None:
    with _reported_errors():
        row = service.set_status(ruleset_id, live, utcnow())
    click.echo(f"{row['id']}: {row['status']}")


@rulesets_group.command("pause")
@click.argument("ruleset_id")
def pause(ruleset_id: str) -> None:
    """Stop a rule set from answering."""
    _set(ruleset_id, False)


@rulesets_group.command("resume")
@click.argument("ruleset_id")
def resume(ruleset_id: str) -> None:
    """Make a rule set answer again."""
    _set(ruleset_id, True)
