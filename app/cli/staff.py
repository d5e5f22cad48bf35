"""``flask --app wsgi staff ...``: accounts, roles, the export grant and API tokens (SPEC §7).

Every write is recorded in the audit log with actor ``cli``. Passwords come from stdin (a prompt
on a terminal), never from the command line, where ``ps`` and shell history would keep them.
"""

from __future__ import annotations

import sys

import click

from app.cli.scenarios import _reported_errors
from app.services import staff as service
from app.services.audit import record_cli
from app.staff.roles import EXPORT, ROLES

ROLE = click.Choice(ROLES)
PERMISSION = click.Choice([EXPORT])


@click.group("staff")
def staff_group() -> None:
    """Staff accounts: create, list, set-role, disable, grant/revoke export, tokens."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise click.UsageError("no password given on stdin")
    return password


@staff_group.command("create")
@click.argument("email")
@click.option("--role", type=ROLE, required=True)
@click.option("--name", "display_name", default="", help="display name")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin without a prompt")
@click.option("--no-password", is_flag=True, help="no password yet (invite later, or API tokens only)")
def create(email: str, role: str, display_name: str, password_stdin: bool, no_password: bool) -> None:
    """Create an enabled account with ROLE; the password is read from stdin."""
    password = None if no_password else _read_password(password_stdin)
    with _reported_errors():
        row = service.create_staff(email, role, password, display_name)
    record_cli("staff.create", row.email, role=role, password_set=password is not None)
    click.echo(f"created {row.email} ({row.role})")


@staff_group.command("list")
def list_command() -> None:
    """Every account: email, role, export, enabled, last login."""
    rows = service.list_staff()
    if not rows:
        click.echo("no staff accounts")
    for row in rows:
        flags = ["export" if row.can_export else "", "" if row.enabled else "DISABLED",
                 "" if row.has_password else "no-password"]
        last = row.last_login_at.isoformat(timespec="seconds") if row.last_login_at else "never"
        click.echo(f"{row.email:<40} {row.role:<9} created {row.created_at:%Y-%m-%d}  last login {last:<26} "
                   f"{' '.join(f for f in flags if f)}  {row.display_name}".rstrip())


@staff_group.command("set-role")
@click.argument("email")
@click.argument("role", type=ROLE)
def set_role(email: str, role: str) -> None:
    """Change EMAIL's role (takes effect on the next request)."""
    with _reported_errors():
        row = service.set_role(email, role)
    record_cli("staff.set_role", row.email, role=role)
    click.echo(f"{row.email} is now {row.role}")


@staff_group.command("disable")
@click.argument("email")
def disable(email: str) -> None:
    """Disable EMAIL: its sessions end and its tokens are deleted at once."""
    with _reported_errors():
        row = service.set_enabled(email, False)
    record_cli("staff.disable", row.email)
    click.echo(f"{row.email} disabled; sessions ended, tokens revoked")


@staff_group.command("enable")
@click.argument("email")
def enable(email: str) -> None:
    """Enable EMAIL again (it needs new tokens: disabling deleted them)."""
    with _reported_errors():
        row = service.set_enabled(email, True)
    record_cli("staff.enable", row.email)
    click.echo(f"{row.email} enabled")


@staff_group.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True)
def set_password(email: str, password_stdin: bool) -> None:
    """Set EMAIL's password (read from stdin); its sessions end."""
    password = _read_password(password_stdin)
    with _reported_errors():
        row = service.set_password(email, password)
    record_cli("staff.set_password", row.email)
    click.echo(f"password of {row.email} changed; its sessions ended")


@staff_group.command("grant")
@click.argument("email")
@click.argument("permission", type=PERMISSION)
def grant(email: str, permission: str) -> None:
    """Grant a separate permission (``export``)."""
    with _reported_errors():
        row = service.set_export(email, True)
    record_cli("staff.grant", row.email, permission=permission)
    click.echo(f"{row.email} may now {permission}")


@staff_group.command("revoke")
@click.argument("email")
@click.argument("permission", type=PERMISSION)
def revoke(email: str, permission: str) -> None:
    """Take a separate permission (``export``) back; owners always keep it."""
    with _reported_errors():
        row = service.set_export(email, False)
    record_cli("staff.revoke", row.email, permission=permission)
    click.echo(f"{row.email} may no longer {permission}" + (" (owners always may)" if row.role == "owner" else ""))


@staff_group.command("token")
@click.argument("email")
@click.option("--name", required=True, help="what the token is for (unique per account)")
def token(email: str, name: str) -> None:
    """Create an API token for EMAIL and print it once (only its hash is kept)."""
    with _reported_errors():
        secret = service.create_token(email, name)
    record_cli("staff.token", email.strip().lower(), name=name)
    click.echo(secret)


@staff_group.command("revoke-token")
@click.argument("email")
@click.argument("name")
def revoke_token(email: str, name: str) -> None:
    """Delete EMAIL's token NAME (refused from the next request on)."""
    with _reported_errors():
        service.revoke_token(email, name)
    record_cli("staff.revoke_token", email.strip().lower(), name=name)
    click.echo(f"token {name!r} of {email} revoked")


@staff_group.command("tokens")
@click.argument("email")
def tokens(email: str) -> None:
    """EMAIL's tokens: name, created, last used."""
    with _reported_errors():
        rows = service.list_tokens(email)
    for row in rows:
        used = row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else "never"
        click.echo(f"{row.name:<30} created {row.created_at.isoformat(timespec='seconds')}  last used {used}")


@staff_group.command("invite")
@click.argument("email")
def invite(email: str) -> None:
    """Print a one-time set-password link path for EMAIL (valid three days)."""
    with _reported_errors():
        secret = service.create_invite(email)
    record_cli("staff.invite", email.strip().lower())
    click.echo(f"/admin/invite/{secret}")
