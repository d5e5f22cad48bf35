"""LINE Login v2.1, as much as a friend-add route needs: the authorize endpoint (consent is
automatic: it redirects back with a code for the simulated user, and can make that user add the
bot, sending a signed follow webhook as LINE does) and the token endpoint (an HS256 ID token).

LINE's OpenAPI files cover the Messaging API only, so requests are checked here by hand against
LINE Login's documented parameters (https://developers.line.biz/en/reference/line-login/).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from linesim import webhooks

ISSUER = "https://access.line.me"
CODE_TTL_S = 600  # LINE: an authorization code is valid for 10 minutes, and once
DEFAULT_LOGIN_CHANNEL = ("1650000000", "test-login-secret")


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    nonce: str | None
    user_id: str
    expires: float


@dataclass
class LoginWorld:
    """Login channels (id → secret), who logs in next, and whether consent adds the bot."""

    channels: dict[str, str] = field(default_factory=lambda: dict([DEFAULT_LOGIN_CHANNEL]))
    user_id: str = "U" + "1" * 32
    display_name: str = "Login User"
    consent: bool = True
    add_friend: bool = True  # with bot_prompt, the user adds the bot on the consent screen
    webhook_url: str | None = None
    webhook_secret: str | None = None
    friends: set[str] = field(default_factory=set)  # users who added the bot through a login
    codes: dict[str, Code] = field(default_factory=dict)
    issued: int = 0
    follow_statuses: list[int] = field(default_factory=list)
    id_token_secret: str | None = None  # sign ID tokens with another key (a forged token, for tests)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def id_token(claims: dict[str, Any], secret: str) -> str:
    """A JWT signed HS256 with the channel secret, as LINE Login issues for web logins."""
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _oauth_error(status: int, code: str, description: str) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=status)


def _world(request: web.Request) -> LoginWorld:
    from linesim.server import SIM_KEY

    return request.app[SIM_KEY].login


async def authorize(request: web.Request) -> web.StreamResponse:
    """``GET /oauth2/v2.1/authorize``: check the parameters, then redirect back (auto-consent)."""
    world, query = _world(request), request.query
    missing = [name for name in ("response_type", "client_id", "redirect_uri", "state", "scope") if not query.get(name)]
    if missing:
        return _oauth_error(400, "invalid_request", f"missing parameters: {', '.join(missing)}")
    if query["response_type"] != "code":
        return _oauth_error(400, "unsupported_response_type", "response_type must be code")
    if query["client_id"] not in world.channels:
        return _oauth_error(400, "invalid_client", "unknown client_id")
    if "openid" not in query["scope"].split():
        return _oauth_error(400, "invalid_scope", "scope must include openid for an ID token")
    if query.get("bot_prompt") not in (None, "normal", "aggressive"):
        return _oauth_error(400, "invalid_request", "bot_prompt must be normal or aggressive")
    redirect = query["redirect_uri"]
    glue = "&" if "?" in redirect else "?"
    if not world.consent:
        raise web.HTTPFound(redirect + glue + urlencode({"error": "access_denied", "state": query["state"],
                                                          "error_description": "The user has denied the request"}))
    changed = False
    if query.get("bot_prompt") and world.add_friend and world.user_id not in world.friends:
        world.friends.add(world.user_id)
        changed = True
        if world.webhook_url and world.webhook_secret:  # LINE sends the follow when the user adds the bot
            event = webhooks.build_event("follow", world.user_id, reply_token=secrets.token_hex(16))
            world.follow_statuses += await webhooks.deliver(world.webhook_url, world.webhook_secret, [event],
                                                            "U" + "0" * 31 + "b")
    code = secrets.token_urlsafe(15)
    world.codes[code] = Code(query["client_id"], redirect, query.get("nonce"), world.user_id, time.time() + CODE_TTL_S)
    params = {"code": code, "state": query["state"]}
    if query.get("bot_prompt"):
        params["friendship_status_changed"] = "true" if changed else "false"
    raise web.HTTPFound(redirect + glue + urlencode(params))


async def token(request: web.Request) -> web.Response:
    """``POST /oauth2/v2.1/token`` (form-encoded): an authorization code → access and ID tokens."""
    world = _world(request)
    if not request.content_type.startswith("application/x-www-form-urlencoded"):
        return _oauth_error(400, "invalid_request", "expected application/x-www-form-urlencoded")
    form = await request.post()
    values = {name: str(form.get(name) or "") for name in
              ("grant_type", "code", "redirect_uri", "client_id", "client_secret")}
    missing = [name for name, value in values.items() if not value]
    if missing:
        return _oauth_error(400, "invalid_request", f"missing parameters: {', '.join(missing)}")
    if values["grant_type"] != "authorization_code":
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be authorization_code")
    secret = world.channels.get(values["client_id"])
    if secret is None or not hmac.compare_digest(secret, values["client_secret"]):
        return _oauth_error(400, "invalid_client", "invalid client_id or client_secret")
    code = world.codes.pop(values["code"], None)  # single use
    if code is None or code.expires < time.time():
        return _oauth_error(400, "invalid_grant", "invalid authorization code")
    if code.client_id != values["client_id"] or code.redirect_uri != values["redirect_uri"]:
        return _oauth_error(400, "invalid_grant", "redirect_uri does not match")
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "sub": code.user_id, "aud": code.client_id, "exp": now + 3600,
                              "iat": now, "amr": ["linesso"], "name": world.display_name}
    if code.nonce:
        claims["nonce"] = code.nonce
    world.issued += 1
    return web.json_response({"access_token": secrets.token_urlsafe(32), "expires_in": 2592000,
                              "id_token": id_token(claims, world.id_token_secret or secret),
                              "refresh_token": secrets.token_urlsafe(16),
                              "scope": "openid profile", "token_type": "Bearer"})


async def configure(request: web.Request) -> web.Response:
    """``POST /_sim/login``: ``channel_id``/``channel_secret`` (a login channel), ``user_id``,
    ``display_name``, ``consent``, ``add_friend``, ``webhook_url``/``webhook_secret`` (the follow),
    ``id_token_secret`` (forge: sign ID tokens with another key)."""
    world = _world(request)
    data = json.loads(await request.read() or b"{}")
    if data.get("channel_id") and data.get("channel_secret"):
        world.channels[str(data["channel_id"])] = str(data["channel_secret"])
    for name in ("user_id", "display_name", "webhook_url", "webhook_secret", "id_token_secret"):
        if name in data:
            setattr(world, name, data[name])
    for name in ("consent", "add_friend"):
        if name in data:
            setattr(world, name, bool(data[name]))
    if data.get("forget_friends"):
        world.friends.clear()
    return web.json_response({"user_id": world.user_id, "channels": sorted(world.channels),
                              "friends": sorted(world.friends), "issued": world.issued,
                              "follow_statuses": world.follow_statuses})


def register(app: web.Application) -> None:
    app.router.add_get("/oauth2/v2.1/authorize", authorize)
    app.router.add_post("/oauth2/v2.1/token", token)
    app.router.add_post("/_sim/login", configure)
