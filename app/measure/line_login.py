"""LINE Login for friend-add routes: a signed ``state``, the authorize URL, and a careful HS256
ID-token check (hmac only, no JWT library: the one algorithm LINE uses for web logins)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

ISSUER = "https://access.line.me"
STATE_TTL_S = 600  # a login left open longer starts again from the route URL
CLOCK_SKEW_S = 60


class LoginRejected(ValueError):
    """The state, the code exchange or the ID token is not acceptable; the message says why."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise LoginRejected("malformed base64url") from exc


@dataclass(frozen=True)
class LoginState:
    route_id: str
    nonce: str
    expires: int


class StateSigner:
    """``state`` = base64url(JSON {route, nonce, exp}) + "." + HMAC: forged or stale states fail."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("a signing key is required")
        self._key = hashlib.sha256(b"stepline-login-state\x1f" + key.encode()).digest()

    def _sig(self, body: str) -> str:
        return _b64encode(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def new(self, route_id: str, now: float | None = None) -> tuple[str, LoginState]:
        state = LoginState(route_id, secrets.token_urlsafe(16), int((now or time.time()) + STATE_TTL_S))
        body = _b64encode(json.dumps({"r": state.route_id, "n": state.nonce, "e": state.expires},
                                     separators=(",", ":")).encode())
        return f"{body}.{self._sig(body)}", state

    def check(self, text: str, now: float | None = None) -> LoginState:
        body, _, sig = (text or "").partition(".")
        if not body or not sig or not hmac.compare_digest(self._sig(body), sig):
            raise LoginRejected("the login state is missing or was altered")
        try:
            data = json.loads(_b64decode(body))
            state = LoginState(str(data["r"]), str(data["n"]), int(data["e"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise LoginRejected("the login state is malformed") from exc
        if state.expires < (now or time.time()):
            raise LoginRejected("the login took too long; open the link again")
        return state


def authorize_url(base: str, *, channel_id: str, redirect_uri: str, state: str, nonce: str) -> str:
    """LINE Login's authorize URL asking for the profile and to add the bot (``bot_prompt``)."""
    query = {"response_type": "code", "client_id": channel_id, "redirect_uri": redirect_uri, "state": state,
             "scope": "openid profile", "nonce": nonce, "bot_prompt": "aggressive"}
    return f"{base}{'&' if '?' in base else '?'}{urlencode(query)}"


def verify_id_token(token: str, *, channel_id: str, channel_secret: str, nonce: str,
                    now: float | None = None) -> dict[str, Any]:
    """The claims of a valid ID token: HS256 over header.payload with the channel secret, ``iss``
    LINE, ``aud`` our channel, not expired, our ``nonce``, a ``sub``. Anything else is rejected."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not all(parts):
        raise LoginRejected("the ID token is not a JWT")
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
    except ValueError as exc:
        raise LoginRejected("the ID token is malformed") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":  # never "none", never another alg
        raise LoginRejected("the ID token is not signed with HS256")
    expected = hmac.new(channel_secret.encode(), f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64decode(parts[2])):
        raise LoginRejected("the ID token signature is wrong")
    if not isinstance(claims, dict):
        raise LoginRejected("the ID token is malformed")
    moment = now if now is not None else time.time()
    if claims.get("iss") != ISSUER:
        raise LoginRejected("the ID token was not issued by LINE")
    audience = claims.get("aud")
    if audience != channel_id and not (isinstance(audience, list) and channel_id in audience):
        raise LoginRejected("the ID token is for another channel")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + CLOCK_SKEW_S < moment:
        raise LoginRejected("the ID token has expired")
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise LoginRejected("the ID token's nonce does not match this login")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.startswith("U") or len(sub) > 64:
        raise LoginRejected("the ID token names no LINE user")
    return claims
