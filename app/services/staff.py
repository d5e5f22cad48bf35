"""Staff use cases (SPEC §7): accounts, roles, passwords, invites, API tokens and who a login is.

Every function owns its transaction. Disabling someone, or changing a password, ends sessions
(and, for disabling, tokens) in the same transaction, so the next request is already refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import BadRequest, Conflict, NotFound
from app.extensions import db
from app.models.base import utcnow
from app.models.staff import Staff, StaffSession, StaffToken
from app.staff.credentials import WeakPassword, digest, hash_password, new_secret, verify_password
from app.staff.roles import BUILTIN_OWNER, ROLES, Identity

INVITE_LIFETIME = timedelta(days=3)
TOKEN_USE_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most once a minute


@dataclass(frozen=True)
class StaffView:
    """A staff row as the edges show it (no hashes)."""

    id: int
    email: str
    display_name: str
    role: str
    can_export: bool
    enabled: bool
    has_password: bool
    invited: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class TokenView:
    """A token as listed: its name and times, never the token."""

    name: str
    created_at: datetime
    last_used_at: datetime | None


def _view(row: Staff) -> StaffView:
    return StaffView(row.id, row.email, row.display_name, row.role, row.can_export, row.enabled,
                     row.password_hash is not None, row.invite_hash is not None, row.created_at, row.last_login_at)


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    if "@" not in value or len(value) > 254 or value.startswith("@") or value.endswith("@"):
        raise BadRequest("bad email", [{"path": "email", "message": f"expected an email address, got {email!r}"}])
    return value


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise BadRequest("bad role", [{"path": "role", "message": f"expected one of {', '.join(ROLES)}"}])
    return role


def _hash(password: str) -> str:
    try:
        return hash_password(password)
    except WeakPassword as exc:
        raise BadRequest(str(exc), [{"path": "password", "message": str(exc)}]) from None


def _get(session: Session, email: str) -> Staff:
    row = session.scalars(sa.select(Staff).where(Staff.email == normalize_email(email))).first()
    if row is None:
        raise NotFound(f"no staff member {email!r}")
    return row


def any_enabled_staff() -> bool:
    """Whether the staff table opens the admin at all (SPEC §7 'closed means closed')."""
    with db.session() as session:
        return session.scalar(sa.select(Staff.id).where(Staff.enabled.is_(True)).limit(1)) is not None


def create_staff(email: str, role: str, password: str | None = None, display_name: str = "") -> StaffView:
    """A new enabled account; without a password it can only log in after an invite or a token."""
    email, role = normalize_email(email), _check_role(role)
    password_hash = _hash(password) if password is not None else None
    with db.transaction() as session:
        if session.scalar(sa.select(Staff.id).where(Staff.email == email)) is not None:
            raise Conflict(f"staff member {email!r} already exists")
        row = Staff(email=email, role=role, password_hash=password_hash, display_name=display_name.strip()[:200],
                    can_export=role == "owner", enabled=True)
        session.add(row)
        session.flush()
        return _view(row)


def list_staff() -> list[StaffView]:
    with db.session() as session:
        return [_view(row) for row in session.scalars(sa.select(Staff).order_by(Staff.email))]


def get_staff(email: str) -> StaffView:
    with db.session() as session:
        return _view(_get(session, email))


def set_role(email: str, role: str) -> StaffView:
    role = _check_role(role)
    with db.transaction() as session:
        row = _get(session, email)
        row.role = role
        return _view(row)


def set_export(email: str, granted: bool) -> StaffView:
    """``staff grant/revoke EMAIL export``."""
    with db.transaction() as session:
        row = _get(session, email)
        row.can_export = granted
        return _view(row)


def _end_sessions(session: Session, staff_id: int | None, login: str, keep_hash: str | None = None) -> int:
    query = sa.delete(StaffSession).where(StaffSession.login == login)
    if staff_id is not None:
        query = sa.delete(StaffSession).where(StaffSession.staff_id == staff_id)
    if keep_hash is not None:
        query = query.where(StaffSession.id_hash != keep_hash)
    return int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]


def set_enabled(email: str, enabled: bool) -> StaffView:
    """Disabling ends every session and deletes every token of the account at once."""
    with db.transaction() as session:
        row = _get(session, email)
        row.enabled = enabled
        if not enabled:
            _end_sessions(session, row.id, row.email)
            session.execute(sa.delete(StaffToken).where(StaffToken.staff_id == row.id))
            row.invite_hash, row.invite_expires_at = None, None
        return _view(row)


def set_password(email: str, password: str, keep_session_hash: str | None = None) -> StaffView:
    """A new password ends the account's other sessions (the one that changed it may stay)."""
    password_hash = _hash(password)
    with db.transaction() as session:
        row = _get(session, email)
        row.password_hash = password_hash
        row.invite_hash, row.invite_expires_at = None, None
        _end_sessions(session, row.id, row.email, keep_session_hash)
        return _view(row)


def change_own_password(staff_id: int, current: str, new: str, keep_session_hash: str | None) -> None:
    """The account page: the current password is needed too (a stolen session cannot lock one out)."""
    with db.session() as session:
        row = session.get(Staff, staff_id)
        if row is None or not verify_password(row.password_hash, current):
            raise BadRequest("the current password is wrong", [{"path": "current_password"}])
        email = row.email
    set_password(email, new, keep_session_hash)


def end_all_sessions(identity: Identity) -> int:
    """'Log out everywhere': every session of this login, this one included."""
    with db.transaction() as session:
        return _end_sessions(session, identity.staff_id, identity.login)


def create_invite(email: str, now: datetime | None = None) -> str:
    """A one-time secret for the set-password link (valid three days); only its hash is kept."""
    secret = new_secret()
    with db.transaction() as session:
        row = _get(session, email)
        if not row.enabled:
            raise Conflict(f"staff member {email!r} is disabled")
        row.invite_hash, row.invite_expires_at = digest(secret), (now or utcnow()) + INVITE_LIFETIME
    return secret


def invite_email(secret: str, now: datetime | None = None) -> str | None:
    """The account a still-valid invite link belongs to, if any."""
    with db.session() as session:
        row = session.scalars(sa.select(Staff).where(Staff.invite_hash == digest(secret))).first()
        if row is None or not row.enabled or not row.invite_expires_at or row.invite_expires_at < (now or utcnow()):
            return None
        return row.email


def accept_invite(secret: str, password: str) -> str:
    """Set the password through the link (once); returns the account's email."""
    email = invite_email(secret)
    if email is None:
        raise NotFound("this invite link is unknown, used or expired")
    set_password(email, password)
    return email


def create_token(email: str, name: str) -> str:
    """A named API token; the caller shows the return value once, we keep only its hash."""
    name = name.strip()
    if not name or len(name) > 100:
        raise BadRequest("bad token name", [{"path": "name", "message": "1 to 100 characters"}])
    secret = new_secret()
    with db.transaction() as session:
        row = _get(session, email)
        if not row.enabled:
            raise Conflict(f"staff member {email!r} is disabled")
        exists = session.scalar(sa.select(StaffToken.id).where(StaffToken.staff_id == row.id,
                                                                StaffToken.name == name))
        if exists is not None:
            raise Conflict(f"{email} already has a token named {name!r}")
        session.add(StaffToken(staff_id=row.id, name=name, token_hash=digest(secret)))
    return secret


def list_tokens(email: str) -> list[TokenView]:
    with db.session() as session:
        row = _get(session, email)
        tokens = session.scalars(sa.select(StaffToken).where(StaffToken.staff_id == row.id).order_by(StaffToken.name))
        return [TokenView(t.name, t.created_at, t.last_used_at) for t in tokens]


def revoke_token(email: str, name: str) -> None:
    with db.transaction() as session:
        row = _get(session, email)
        deleted = session.execute(sa.delete(StaffToken).where(StaffToken.staff_id == row.id, StaffToken.name == name))
        if not deleted.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"{email} has no token named {name!r}")


def builtin_owner() -> Identity:
    """ADMIN_PASSWORD's login and ADMIN_TOKEN's bearer."""
    return Identity(BUILTIN_OWNER, "owner", True, None, BUILTIN_OWNER)


def staff_identity(row: Staff, actor: str | None = None) -> Identity:
    return Identity(actor or row.email, row.role, row.can_export or row.role == "owner", row.id, row.email)


def identify_token(secret: str, now: datetime | None = None) -> Identity | None:
    """The enabled staff member a bearer token belongs to (actor ``token:<name>``), if any."""
    now = now or utcnow()
    with db.session() as session:
        found = session.execute(sa.select(StaffToken, Staff).join(Staff, Staff.id == StaffToken.staff_id)
                                .where(StaffToken.token_hash == digest(secret))).first()
        if found is None or not found[1].enabled:
            return None
        token, staff = found
        identity = staff_identity(staff, actor=f"token:{token.name}")
        if token.last_used_at is None or now - token.last_used_at > TOKEN_USE_RESOLUTION:
            session.execute(sa.update(StaffToken).where(StaffToken.id == token.id).values(last_used_at=now))
            session.commit()
        return identity


def identify_staff(staff_id: int) -> Identity | None:
    """A session's staff member, if still enabled (role read fresh on every request)."""
    with db.session() as session:
        row = session.get(Staff, staff_id)
        return staff_identity(row) if row is not None and row.enabled else None


def authenticate(email: str, password: str, now: datetime | None = None) -> Identity | None:
    """Email and password of an enabled account (argon2 verify even for unknown emails)."""
    try:
        email = normalize_email(email)
    except BadRequest:
        email = ""
    with db.session() as session:
        row = session.scalars(sa.select(Staff).where(Staff.email == email)).first() if email else None
        ok = verify_password(row.password_hash if row is not None else None, password)
        if row is None or not ok or not row.enabled:
            return None
        row.last_login_at = now or utcnow()
        identity = staff_identity(row)
        session.commit()
        return identity
