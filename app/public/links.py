"""``GET /l/<token>``: 302 to the original URL at once; the click is queued, not written here."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from app import current_settings
from app.extensions import db
from app.measure.links import LinkSigner
from app.models.base import utcnow
from app.services import clicks

bp = Blueprint("links", __name__)

_NOT_FOUND = "This link is unknown or has been altered.\n"


def _signer() -> LinkSigner | None:
    signer = current_app.extensions.get("stepline_link_signer")
    if signer is None:
        settings = current_settings()
        if not settings.link_signing_key:
            return None
        signer = current_app.extensions["stepline_link_signer"] = LinkSigner(settings.link_signing_key)
    return signer


def _plain(status: int, text: str) -> Response:
    return Response(text, status=status, mimetype="text/plain", headers={"Cache-Control": "no-store"})


@bp.get("/l/<token>")
def follow_link(token: str) -> Response:
    """Unknown or altered tokens: 404, nothing recorded."""
    signer = _signer()
    if signer is None:
        return _plain(404, _NOT_FOUND)
    with db.session() as session:
        click = clicks.resolve(session, signer, token)
    if click is None:
        return _plain(404, _NOT_FOUND)
    clicks.record(click, utcnow())
    # no-store: every click reaches us; no-referrer: the token is not passed on to the destination
    return Response(status=302, headers={"Location": click.url, "Cache-Control": "no-store",
                                         "Referrer-Policy": "no-referrer"})
