"""``flask --app wsgi i18n update|compile``: rebuild the dashboard's message catalogs."""

from __future__ import annotations

import click

from app import i18n_catalogs


@click.group("i18n")
def i18n_group() -> None:
    """Dashboard translations (app/translations)."""


@i18n_group.command("update")
def update_command() -> None:
    """Extract every _() string, merge into each .po, compile the .mo; list what is untranslated."""
    for report in i18n_catalogs.update():
        click.echo(f"{report.language}: {report.messages} messages, {len(report.untranslated)} untranslated")
        for message in report.untranslated:
            click.echo(f"  untranslated: {message}")


@i18n_group.command("compile")
def compile_command() -> None:
    """Compile every .po into the .mo Flask-Babel loads."""
    for path in i18n_catalogs.compile_all():
        click.echo(f"wrote {path}")
