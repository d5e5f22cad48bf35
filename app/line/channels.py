"""The LINE client for a configured channel (one per process and channel)."""

from __future__ import annotations

from app.config import Settings
from app.line.client import LineClient, client_for


def channel_env_hint(channel_name: str) -> str:
    """Which variables configure a channel, as the README names them (the default has short names)."""
    if channel_name == "default":
        return "set LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN"
    upper = channel_name.upper()
    return f"set LINE_CHANNEL_{upper}_SECRET and LINE_CHANNEL_{upper}_ACCESS_TOKEN"


def line_client(settings: Settings, channel_name: str) -> LineClient:
    """The process-wide client for ``channel_name``; raises KeyError for unknown channels."""
    channel = settings.channel(channel_name)
    if channel is None:
        raise KeyError(f"channel {channel_name!r} is not configured ({channel_env_hint(channel_name)})")
    return client_for(channel.name, settings.line_api_base_url, channel.access_token,
                      settings.line_data_api_base_url)
