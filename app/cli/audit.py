"""``flask --app wsgi audit ...``: read and prune the audit log (kept at least a year)."""

from __future__ import annotations

import json

import click

from app.services import audit


@click.group("audit")
def audit_group() -> None:
    """The audit log of every write (API, dashboard, CLI)."""


@audit_group.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, audit.MAX_PAGE))
@click.option("--actor", default=None)
def list_command(limit: int, actor: str | None) -> None:
    """Newest entries first, one JSON object per line."""
    for row in audit.entries(limit=limit, actor=actor):
        click.echo(json.dumps(row, ensure_ascii=False))


@audit_group.command("prune")
@click.option("--older-than", "days", type=int, required=True, help=f"days (at least {audit.MIN_RETENTION_DAYS})")
def prune(days: int) -> None:
    """Delete entries older than DAYS days; refuses less than a year."""
    if days < audit.MIN_RETENTION_DAYS:
        raise click.BadParameter(f"audit entries are kept at least {audit.MIN_RETENTION_DAYS} days",
                                 param_hint="--older-than")
    removed = audit.prune(days)
    audit.record_cli("audit.prune", None, older_than_days=days, removed=removed)
    click.echo(f"{removed} audit entries older than {days} days removed")
