"""Server-side dashboard sessions: the cookie holds only a random id, the database the rest.

Logging in issues a new id (and a row naming who logged in); logging out, changing a password,
'log out everywhere' and disabling an account delete rows, which ends every copy of the cookie.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, Request, Response, has_request_context, request
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from app.services import staff_sessions as store

ANONYMOUS_LIFETIME = timedelta(hours=1)


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """Session data plus who it belongs to; ``log_in``/``end`` are applied when the response is saved."""

    def __init__(self, initial: dict[str, Any] | None = None, session_id: str | None = None,
                 login: str | None = None, staff_id: int | None = None) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.session_id = session_id
        self.id_hash: str | None = None
        self.login = login
        self.staff_id = staff_id
        self.modified = False
        self.accessed = False
        self.renew = False
        self.ended = False

    def log_in(self, login: str, staff_id: int | None) -> None:
        """Start a fresh session for ``login`` (a new id: a planted cookie gains nothing)."""
        self.clear()
        self.login, self.staff_id, self.renew, self.ended = login, staff_id, True, False
        self.modified = True

    def end(self) -> None:
        """Logout: forget everything; the row is deleted when the response is saved."""
        self.clear()
        self.login, self.staff_id, self.ended = None, None, True


class ServerSessionInterface(SessionInterface):
    """Rows in ``staff_sessions``; cookie flags HttpOnly, SameSite=Lax, and Secure over HTTPS."""

    def __init__(self, lifetime: timedelta) -> None:
        self.lifetime = lifetime

    def get_cookie_secure(self, app: Flask) -> bool:
        """``Secure`` whenever the request came over HTTPS (behind ProxyFix too), so plain-HTTP
        local development still works."""
        secure = bool(app.config.get("SESSION_COOKIE_SECURE"))
        return secure or (has_request_context() and request.is_secure)

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        session_id = request.cookies.get(self.get_cookie_name(app))
        if session_id and len(session_id) <= 128:
            stored = store.load(session_id)
            if stored is not None:
                found = ServerSession(stored.data, session_id, stored.login, stored.staff_id)
                found.id_hash = stored.id_hash
                return found
        return ServerSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        if session.ended:
            if session.session_id:
                store.end(session.session_id)
            response.delete_cookie(name, domain=domain, path=path)
            return
        if session.renew or (session.session_id is None and session.modified and dict(session)):
            lifetime = self.lifetime if session.login else ANONYMOUS_LIFETIME
            session.session_id = store.create(dict(session), lifetime, session.login, session.staff_id,
                                              replaces=session.session_id)
            response.set_cookie(name, session.session_id, max_age=int(lifetime.total_seconds()) if session.login
                                else None, domain=domain, path=path, secure=self.get_cookie_secure(app),
                                httponly=True, samesite=self.get_cookie_samesite(app) or "Lax")
            response.vary.add("Cookie")
            return
        if session.modified and session.session_id is not None and not store.update(session.session_id,
                                                                                    dict(session)):
            response.delete_cookie(name, domain=domain, path=path)
