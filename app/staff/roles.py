"""Roles, each including the ones before it, and the separate ``export`` permission (SPEC §7)."""

from __future__ import annotations

ROLES = ("viewer", "operator", "admin", "owner")
EXPORT = "export"
PERMISSIONS = ROLES + (EXPORT,)
BUILTIN_OWNER = "admin"  # the login name of ADMIN_PASSWORD / the actor of ADMIN_TOKEN


def is_role(value: str) -> bool:
    return value in ROLES


def allows(role: str, can_export: bool, need: str) -> bool:
    """Whether a staff member with ``role`` (and the export grant or not) may do what needs ``need``."""
    if need == EXPORT:
        return role == "owner" or can_export
    if role not in ROLES or need not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(need)


class Identity:
    """Who a request or command acts as: resolved once, then asked what it may do."""

    __slots__ = ("actor", "role", "can_export", "staff_id", "login")

    def __init__(self, actor: str, role: str, can_export: bool, staff_id: int | None, login: str) -> None:
        self.actor = actor  # for the audit log: email, ``admin`` or ``token:<name>``
        self.role = role
        self.can_export = can_export
        self.staff_id = staff_id  # None for the built-in owner
        self.login = login  # email or ``admin``: whose sessions these are

    def may(self, need: str) -> bool:
        return allows(self.role, self.can_export, need)

    def __repr__(self) -> str:
        return f"Identity(actor={self.actor!r}, role={self.role!r})"
