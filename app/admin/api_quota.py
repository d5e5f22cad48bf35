"""Admin HTTP API for the monthly quota (SPEC §4): status, forecast, sync with LINE now."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.admin.auth import requires
from app.config import DEFAULT_CHANNEL
from app.current import current_settings
from app.errors import BadRequest, NotFound
from app.line.channels import line_client
from app.models.base import utcnow
from app.quota import tracker
from app.quota.alerts import banner_text
from app.services import monitoring, quota

bp = Blueprint("admin_api_quota", __name__, url_prefix="/admin/api")


def _channels() -> list[str]:
    return sorted(current_settings().channels) or [DEFAULT_CHANNEL]


def _channel_arg(value: str | None) -> str:
    channel = (value or DEFAULT_CHANNEL).lower()
    if channel not in _channels():
        raise NotFound(f"channel {channel!r} is not configured; known: {', '.join(_channels())}")
    return channel


def _status_dict(status: tracker.QuotaStatus) -> dict[str, Any]:
    return {**status.to_dict(), "banner": banner_text(status.channel, status.alerts, status.used, status.limit)}


@bp.get("/quota")
@requires("viewer")
def quota_status() -> Response:
    """This month's quota of every configured channel."""
    statuses = [_status_dict(status) for status in monitoring.quota_statuses(_channels(), utcnow())]
    return jsonify(channels=statuses)


@bp.get("/quota/forecast")
@requires("viewer")
def quota_forecast() -> Response:
    """``?channel=default``: the month's projected usage and the day the limit will be reached."""
    channel = _channel_arg(request.args.get("channel"))
    return jsonify(monitoring.quota_forecast(channel, utcnow()).to_dict())


@bp.post("/quota/sync")
@requires("operator")
def quota_sync() -> Response:
    """Reconcile with LINE now (``?channel=`` for one channel, else all); held pushes resume on the next tick."""
    settings = current_settings()
    body = request.get_json(silent=True)
    wanted = request.args.get("channel") or (body.get("channel") if isinstance(body, dict) else None)
    if wanted is not None and not isinstance(wanted, str):
        raise BadRequest("channel must be a channel name", [{"path": "channel", "message": "expected a text"}])
    channels = [_channel_arg(wanted)] if wanted else sorted(settings.channels)
    statuses = [_status_dict(quota.sync_channel(channel, line_client(settings, channel), utcnow()))
                for channel in channels]
    return jsonify(channels=statuses)
