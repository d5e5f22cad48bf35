"""``GET /l/<token>`` (tracked links) served in front of Flask: a click burst after a multicast is
the busiest thing the web process does, and Flask's request context, routing and hooks cost more
than the click itself. 302 to the original URL once the click is queued; 404 for an unknown or
altered token, nothing recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from app.measure.links import LinkSigner
from app.models.base import utcnow
from app.services import clicks

PREFIX = "/l/"
_NOT_FOUND = b"This link is unknown or has been altered.\n"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class TrackedLinks:
    """WSGI middleware: ``GET``/``HEAD /l/<token>`` answered here, everything else passed on.
    A ``HEAD`` or a link-preview fetcher's ``GET`` is redirected but not counted as a click."""

    def __init__(self, app: WSGIApp, signing_key: str) -> None:
        self.app = app
        self.signer = LinkSigner(signing_key) if signing_key else None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX) or environ.get("REQUEST_METHOD") not in ("GET", "HEAD") \
                or "/" in path[len(PREFIX):]:
            return self.app(environ, start_response)
        click = clicks.resolve(self.signer, path[len(PREFIX):]) if self.signer is not None else None
        if click is None:
            start_response("404 NOT FOUND", [("Content-Type", "text/plain; charset=utf-8"),
                                             ("Content-Length", str(len(_NOT_FOUND))),
                                             ("Cache-Control", "no-store")])
            return [_NOT_FOUND]
        if environ["REQUEST_METHOD"] == "GET" and not is_preview_fetch(environ.get("HTTP_USER_AGENT", "")):
            clicks.record(click, utcnow())
        start_response("302 FOUND", [("Location", _header_safe(click.url)), ("Content-Length", "0"),
                                     ("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer")])
        return [b""]


# link-preview fetchers (LINE and other apps build a preview of a URL in a text by fetching it):
# they get the redirect, but a fetch by a machine is not a friend's click
_PREVIEW_AGENTS = ("facebookexternalhit", "twitterbot", "slackbot", "discordbot", "whatsapp", "linkpreview",
                   "embedly", "skypeuripreview", "googlebot", "bingbot")


def is_preview_fetch(user_agent: str) -> bool:
    agent = user_agent.lower()
    return any(marker in agent for marker in _PREVIEW_AGENTS)


def _header_safe(url: str) -> str:
    """A Location value WSGI can carry (latin-1): non-ASCII characters percent-encoded, as Werkzeug does."""
    if url.isascii():
        return url
    from werkzeug.urls import iri_to_uri

    return iri_to_uri(url)
