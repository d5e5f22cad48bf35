"""``flask --app wsgi richmenus load FILE...`` / ``list``: rich menu definitions under ``richmenus/``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.cli.scenarios import _reported_errors
from app.current import current_settings
from app.models.base import utcnow
from app.services import richmenus as service


@click.group("richmenus")
def richmenus_group() -> None:
    """Rich menus: load definitions (and their images) onto LINE, list them."""


@richmenus_group.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def load(paths: tuple[str, ...]) -> None:
    """Check every file (LINE's limits, the image), then create the menus on LINE."""
    texts = [open(p, encoding="utf-8").read() for p in paths]
    with _reported_errors():
        loaded = service.load(list(paths), texts, settings=current_settings(), now=utcnow())
    for item in loaded:
        click.echo(f"{item['action']}: {item['id']} -> {item['line_id']} v{item['version']}"
                   + (" (default)" if item["default"] else "") + f", {item['moved_friends']} friends moved")


@richmenus_group.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def validate(paths: tuple[str, ...]) -> None:
    """Check files and images against LINE's limits without calling LINE."""
    texts = [open(p, encoding="utf-8").read() for p in paths]
    with _reported_errors():
        checked = service.validate(list(paths), texts, channels=set(current_settings().channels))
    for menu, _data, _kind in checked:
        click.echo(f"ok: {menu.id} ({len(menu.areas)} areas)")


@richmenus_group.command("list")
def list_command() -> None:
    """Loaded rich menus and how many friends have each linked."""
    for menu in service.list_menus():
        click.echo(f"{menu['id']}\t{menu['line_id']}\tv{menu['version']}\tfriends={menu['friends']}"
                   + ("\tdefault" if menu["default"] else ""))
