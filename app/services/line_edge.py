"""The LINE client for a configured channel (one per process and channel)."""

from __future__ import annotations

from app.config import Settings
from app.line.client import LineClient, client_for


def line_client(settings: Settings, channel_name: str) -> LineClient:
    """The process-wide client for ``channel_name``; raises KeyError for unknown channels."""
    channel = settings.channel(channel_name)
    if channel is None:
        raise KeyError(f"channel {channel_name!r} is not configured (set LINE_CHANNEL_{channel_name.upper()}_*)")
    return client_for(channel.name, settings.line_api_base_url, channel.access_token, settings.line_data_api_base_url)
