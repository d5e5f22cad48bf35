"""``flask --app wsgi db upgrade``: run Alembic migrations to head."""

from __future__ import annotations

import click


@click.group("db")
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
def upgrade() -> None:
    """Apply every pending migration."""
    from app.migrate import upgrade_to_head  # alembic is heavy: import it only for this command

    upgrade_to_head()
    click.echo("database is at the latest migration")
