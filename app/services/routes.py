"""Friend-add routes (流入経路): define them, count visits, finish LINE Login, run their actions.

A route's actions run once per (friend, route) and only once the person is a friend: at the
login if they already are, else when their follow event is processed (``on_follow``); a sweep
(``apply_pending``) closes the race between a login and a follow committed at the same moment.
The friend's ``route`` is the first route they came through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
import sqlalchemy as sa
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from app.config import Settings
from app.delivery import rules
from app.dialect import insert_for
from app.errors import NotFound, SteplineError
from app.extensions import db, redis_handle
from app.measure.line_login import STATE_TTL_S, LoginRejected, StateSigner, authorize_url, verify_id_token
from app.measure.routes import RouteDef, actions_json, parse_route, valid_route_id
from app.models.friends import FRIEND_ACTIVE, FRIEND_BLOCKED, Friend
from app.models.measure import Route, RouteLogin
from app.models.scenarios import Scenario

log = logging.getLogger(__name__)

TOKEN_TIMEOUT = (3.05, 10)  # connect, read (seconds)
NONCE_KEY = "stepline:login-nonce:"


class RouteInvalid(SteplineError):
    """A route definition that cannot be stored (422 with details)."""

    def __init__(self, message: str, details: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.details = details


class LoginNotConfigured(SteplineError):
    """PUBLIC_URL, a signing key or the LINE Login channel is missing."""


def urls(settings: Settings, route_id: str) -> dict[str, str | None]:
    base = settings.public_url
    return {"url": f"{base}/r/{route_id}" if base else None, "qr": f"{base}/r/{route_id}/qr.svg" if base else None}


def put_route(settings: Settings, route_id: str, body: Any, now: datetime) -> tuple[dict[str, Any], bool]:
    """Create or replace a route; (its JSON, created). Enrolled scenarios must exist."""
    if not valid_route_id(route_id):
        raise RouteInvalid("invalid route id", [{"path": "id", "message": "expected [a-z0-9-]+ (not 'callback')"}])
    definition, problems = parse_route(body)
    if definition is None:
        raise RouteInvalid("invalid route", problems)
    with db.transaction() as session:
        _check_references(session, definition)
        route = session.get(Route, route_id)
        created = route is None
        if route is None:
            route = Route(id=route_id, created_at=now, visits=0, logins=0)
            session.add(route)
        route.name, route.channel, route.actions, route.updated_at = (definition.name, definition.channel,
                                                                      actions_json(definition), now)
        session.flush()
        return route_dict(settings, route), created


def _check_references(session: Session, definition: RouteDef) -> None:
    missing = [{"path": f"actions.{i}.enroll", "message": f"unknown scenario {a['enroll']!r}"}
               for i, a in enumerate(actions_json(definition))
               if "enroll" in a and session.get(Scenario, a["enroll"]) is None]
    if missing:
        raise RouteInvalid("the route enrolls into a scenario that does not exist", missing)


def delete_route(route_id: str) -> None:
    """Remove the route; NotFound when there is none. Friends keep the route they came through."""
    with db.transaction() as session:
        route = session.get(Route, route_id)
        if route is None:
            raise NotFound(f"route {route_id!r} does not exist")
        session.delete(route)


def route_dict(settings: Settings, route: Route, counts: dict[str, int] | None = None) -> dict[str, Any]:
    counts = counts or {}
    return {"id": route.id, "name": route.name, "channel": route.channel, "actions": route.actions,
            **urls(settings, route.id), "visits": route.visits, "logins": route.logins,
            "new_friends": counts.get("new_friends", 0), "blocked_since": counts.get("blocked_since", 0),
            "created_at": route.created_at.isoformat(), "updated_at": route.updated_at.isoformat()}


def list_routes(settings: Settings) -> list[dict[str, Any]]:
    """Routes with visits, logins, new friends (not friends before the login) and how many of the
    friends who came through them have blocked the account since."""
    with db.read() as session:
        return _routes_with_counts(session, settings)


def get_route(settings: Settings, route_id: str) -> dict[str, Any]:
    """One route as :func:`list_routes` shows it; NotFound when there is none."""
    with db.read() as session:
        found = _routes_with_counts(session, settings, route_id)
    if not found:
        raise NotFound(f"route {route_id!r} does not exist")
    return found[0]


def _routes_with_counts(session: Session, settings: Settings, route_id: str | None = None) -> list[dict[str, Any]]:
    statement = sa.select(Route).order_by(Route.id)
    if route_id is not None:
        statement = statement.where(Route.id == route_id)
    routes = list(session.scalars(statement))
    new = {rid: n for rid, n in session.execute(
        sa.select(RouteLogin.route_id, sa.func.count())
        .where(RouteLogin.applied_at.is_not(None), RouteLogin.was_friend.is_(False)).group_by(RouteLogin.route_id))}
    blocked = {rid: n for rid, n in session.execute(
        sa.select(Friend.route, sa.func.count()).where(Friend.route.is_not(None), Friend.status == FRIEND_BLOCKED)
        .group_by(Friend.route))}
    return [route_dict(settings, r, {"new_friends": new.get(r.id, 0), "blocked_since": blocked.get(r.id, 0)})
            for r in routes]


# --- the friend's side -------------------------------------------------------------------------

def _require(settings: Settings) -> StateSigner:
    if not (settings.public_url and settings.link_signing_key and settings.line_login_channel_id
            and settings.line_login_channel_secret):
        raise LoginNotConfigured("friend-add routes need PUBLIC_URL, LINK_SIGNING_KEY or SECRET_KEY, "
                                 "LINE_LOGIN_CHANNEL_ID and LINE_LOGIN_CHANNEL_SECRET")
    return StateSigner(settings.link_signing_key)


def visit(settings: Settings, route_id: str) -> str:
    """Count a visit; the LINE Login URL to send the browser to. NotFound for an unknown route."""
    signer = _require(settings)
    with db.transaction() as session:
        result = session.execute(sa.update(Route).where(Route.id == route_id).values(visits=Route.visits + 1))
        if not getattr(result, "rowcount", 0):
            raise NotFound(f"route {route_id!r} does not exist")
    state, login = signer.new(route_id)
    return authorize_url(settings.line_login_authorize_url, channel_id=settings.line_login_channel_id,
                         redirect_uri=callback_url(settings), state=state, nonce=login.nonce)


def callback_url(settings: Settings) -> str:
    return f"{settings.public_url}/r/callback"


@dataclass(frozen=True)
class LoginDone:
    route_id: str
    user_id: str
    applied_now: bool
    redirect_to: str


def finish_login(settings: Settings, *, code: str | None, state: str | None, error: str | None,
                 now: datetime) -> LoginDone:
    """Check the state, exchange the code, verify the ID token, record the route; LoginRejected
    (nothing recorded) on any failure."""
    signer = _require(settings)
    login = signer.check(state or "")
    if error:
        raise LoginRejected(f"LINE Login answered {error!r}")
    if not code:
        raise LoginRejected("LINE Login sent no authorization code")
    id_token = _exchange(settings, code)
    claims = verify_id_token(id_token, channel_id=settings.line_login_channel_id,
                             channel_secret=settings.line_login_channel_secret, nonce=login.nonce)
    _use_nonce(login.nonce)
    user_id = str(claims["sub"])
    with db.transaction() as session:
        route = session.get(Route, login.route_id, with_for_update=True)
        if route is None:
            raise LoginRejected("this route no longer exists")
        route.logins += 1
        session.execute(insert_for(session)(RouteLogin)
                        .values(route_id=route.id, channel=route.channel, user_id=user_id, logged_in_at=now)
                        .on_conflict_do_nothing(index_elements=["channel", "user_id", "route_id"]))
        friend = _friend(session, route.channel, user_id)
        applied = False
        if friend is not None and friend.status == FRIEND_ACTIVE:
            # the follow often arrives before this callback (the consent screen adds the bot): a friend
            # who followed after the visit started is a new friend of this route
            started = datetime.fromtimestamp(login.expires - STATE_TTL_S, UTC)
            was_friend = friend.followed_at is None or friend.followed_at < started
            applied = bool(_apply_pending(session, friend, now, was_friend=was_friend))
    return LoginDone(login.route_id, user_id, applied, settings.line_add_friend_url)


def _exchange(settings: Settings, code: str) -> str:
    """The code for an ID token at LINE's token endpoint (form-encoded, as LINE requires)."""
    try:
        answer = requests.post(f"{settings.line_api_base_url}/oauth2/v2.1/token", timeout=TOKEN_TIMEOUT, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": callback_url(settings),
            "client_id": settings.line_login_channel_id, "client_secret": settings.line_login_channel_secret})
    except requests.RequestException as exc:
        raise LoginRejected(f"LINE's token endpoint could not be reached ({type(exc).__name__})") from exc
    if answer.status_code != 200:
        raise LoginRejected(f"LINE refused the authorization code (HTTP {answer.status_code})")
    try:
        token = answer.json().get("id_token")
    except ValueError as exc:
        raise LoginRejected("LINE's token answer is not JSON") from exc
    if not isinstance(token, str):
        raise LoginRejected("LINE's token answer has no ID token")
    return token


def _use_nonce(nonce: str) -> None:
    """A login (its nonce) completes once: a replayed callback is refused. Best effort without Redis."""
    try:
        fresh = redis_handle.client.set(NONCE_KEY + nonce, 1, nx=True, ex=3600)
    except (RedisError, OSError):
        log.warning("login nonce not checked for reuse: Redis unavailable")
        return
    if not fresh:
        raise LoginRejected("this login was already completed")


def _friend(session: Session, channel: str, user_id: str) -> Friend | None:
    return session.scalars(sa.select(Friend).where(Friend.channel == channel, Friend.user_id == user_id)
                           .with_for_update()).first()


def _apply_pending(session: Session, friend: Friend, now: datetime, *, was_friend: bool) -> int:
    """Run the actions of every route the friend logged in through and that has not run yet."""
    pending = list(session.scalars(
        sa.select(RouteLogin).where(RouteLogin.channel == friend.channel, RouteLogin.user_id == friend.user_id,
                                    RouteLogin.applied_at.is_(None))
        .order_by(RouteLogin.logged_in_at, RouteLogin.id).with_for_update()))
    for login in pending:
        claimed = session.execute(sa.update(RouteLogin).where(RouteLogin.id == login.id,
                                                              RouteLogin.applied_at.is_(None))
                                  .values(applied_at=now, was_friend=was_friend)
                                  .execution_options(synchronize_session=False))
        if not getattr(claimed, "rowcount", 0):
            continue
        if friend.route is None:
            friend.route = login.route_id  # the first route wins
        route = session.get(Route, login.route_id)
        if route is not None:
            _run_actions(session, friend, route.actions or [], now)
        log.info("route %s applied to friend %s", login.route_id, friend.id)
    return len(pending)


def _run_actions(session: Session, friend: Friend, actions: list[dict[str, Any]], now: datetime) -> None:
    for action in actions:
        if "tag" in action:
            rules.add_tag(session, friend, str(action["tag"]), at=now, now=now)
        elif "enroll" in action:
            rules.enroll_into(session, friend, str(action["enroll"]), at=now, now=now)
        elif "set" in action and isinstance(action["set"], dict):
            rules.set_attributes(session, friend, action["set"], now)


def on_follow(session: Session, friend: Friend, now: datetime) -> int:
    """The follow processing calls this: routes logged in through before following take effect now."""
    return _apply_pending(session, friend, now, was_friend=False)


def apply_pending(now: datetime) -> int:
    """Sweep: logins whose person is an active friend but whose actions have not run (a login and a
    follow committed at the same moment each missed the other)."""
    done = 0
    with db.session() as session:
        waiting = session.execute(
            sa.select(Friend.channel, Friend.user_id).join(
                RouteLogin, sa.and_(RouteLogin.channel == Friend.channel, RouteLogin.user_id == Friend.user_id))
            .where(RouteLogin.applied_at.is_(None), Friend.status == FRIEND_ACTIVE).distinct().limit(500)).all()
    for channel, user_id in waiting:
        with db.transaction() as session:
            friend = _friend(session, channel, user_id)
            if friend is not None and friend.status == FRIEND_ACTIVE:
                done += _apply_pending(session, friend, now, was_friend=False)
    return done


def qr_svg(settings: Settings, route_id: str) -> str:
    """The route URL as a QR code (SVG) to print or show."""
    import io

    import segno

    with db.read() as session:
        if session.get(Route, route_id) is None:
            raise NotFound(f"route {route_id!r} does not exist")
    url = urls(settings, route_id)["url"]
    if url is None:
        raise LoginNotConfigured("PUBLIC_URL is not set")
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=6, border=2, title=f"route {route_id}")
    return buffer.getvalue().decode("utf-8")
