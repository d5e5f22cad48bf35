"""``flask --app wsgi routes put|list|delete``: friend-add routes (SPEC §10), thin over app.services.routes."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from app.config import Settings
from app.errors import NotFound
from app.models.base import utcnow
from app.services import routes


@click.group("routes", cls=AppGroup)  # commands run inside the app context (settings for the URLs)
def routes_group() -> None:
    """Friend-add routes (流入経路): a URL / QR code that tags, enrolls or sets attributes."""


def _settings() -> Settings:
    settings: Settings = current_app.extensions["stepline"]
    return settings


@routes_group.command("put")
@click.argument("route_id")
@click.option("--name", required=True)
@click.option("--channel", default="default", show_default=True)
@click.option("--tag", "tags", multiple=True, help="tag the friend (repeatable)")
@click.option("--enroll", "enrolls", multiple=True, help="enroll into a scenario (repeatable)")
@click.option("--set", "sets", multiple=True, metavar="NAME=JSON", help="set an attribute (repeatable)")
def put_command(route_id: str, name: str, channel: str, tags: tuple[str, ...], enrolls: tuple[str, ...],
                sets: tuple[str, ...]) -> None:
    """Create or replace ROUTE_ID; prints its URL and QR code URL."""
    actions: list[dict[str, object]] = [{"tag": t} for t in tags]
    actions += [{"enroll": e} for e in enrolls]
    values: dict[str, object] = {}
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--set")
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    if values:
        actions.append({"set": values})
    try:
        answer, created = routes.put_route(_settings(), route_id, {"name": name, "channel": channel,
                                                                   "actions": actions}, utcnow())
    except routes.RouteInvalid as exc:
        raise click.ClickException(f"{exc}: {json.dumps(exc.details, ensure_ascii=False)}") from exc
    click.echo(f"{'created' if created else 'updated'} {route_id}: url {answer['url']} qr {answer['qr']}")


@routes_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_command(as_json: bool) -> None:
    """Routes with visits, logins, new friends and blocked since."""
    rows = routes.list_routes(_settings())
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'route':<24}{'visits':>8}{'logins':>8}{'new':>6}{'blocked':>9}  url")
    for r in rows:
        click.echo(f"{r['id']:<24}{r['visits']:>8}{r['logins']:>8}{r['new_friends']:>6}{r['blocked_since']:>9}"
                   f"  {r['url'] or '(set PUBLIC_URL)'}")


@routes_group.command("delete")
@click.argument("route_id")
def delete_command(route_id: str) -> None:
    try:
        routes.delete_route(route_id)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"deleted {route_id}")
