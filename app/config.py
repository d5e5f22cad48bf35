"""Settings read once from the environment (SPEC §6); nothing here opens a connection."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_CHANNEL = "default"
DEFAULT_DATABASE_URL = "sqlite:///instance/stepline.db"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_LINE_API_BASE_URL = "https://api.line.me"
DEFAULT_LINE_DATA_API_BASE_URL = "https://api-data.line.me"
_NAMED_CHANNEL = re.compile(r"^LINE_CHANNEL_([A-Z0-9_]+)_(SECRET|ACCESS_TOKEN)$")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Channel:
    """One LINE Official Account: its webhook secret and its Messaging API token."""

    name: str
    secret: str
    access_token: str

    def __repr__(self) -> str:  # never print secrets, even in tracebacks
        return f"Channel(name={self.name!r})"


@dataclass(frozen=True)
class Settings:
    """Everything the processes need, validated once at start-up."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    line_api_base_url: str = DEFAULT_LINE_API_BASE_URL
    admin_token: str = ""
    admin_password: str = ""
    secret_key: str = "dev-only-secret-key"
    quota_timezone: str = "Asia/Tokyo"
    quota_plan: str = ""
    max_body_bytes: int = 1024 * 1024
    channels: Mapping[str, Channel] = field(default_factory=dict)
    testing: bool = False
    # SPEC §9: rich menu images go to the data host; handoffs are announced to staff by webhook
    line_data_api_base_url: str = "https://api-data.line.me"
    staff_webhook_url: str = ""
    staff_webhook_secret: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return f"Settings(database={self.database_url.split('@')[-1]!r}, channels={sorted(self.channels)})"

    def channel(self, name: str) -> Channel | None:
        """The configured channel called ``name`` (case-insensitive), if any."""
        return self.channels.get(name.lower())


def normalize_database_url(url: str) -> str:
    """Accept URLs as hosting platforms give them and pick our own driver (psycopg 3)."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if url.startswith(("sqlite:", "postgresql+psycopg://")):
        return url
    raise ConfigError(
        f"DATABASE_URL has an unsupported scheme ({url.split(':', 1)[0]!r}); "
        "use sqlite:///path.db or postgresql://user@host/db"
    )


def _channels(env: Mapping[str, str]) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    if env.get("LINE_CHANNEL_SECRET") or env.get("LINE_CHANNEL_ACCESS_TOKEN"):
        channels[DEFAULT_CHANNEL] = Channel(
            DEFAULT_CHANNEL, env.get("LINE_CHANNEL_SECRET", ""), env.get("LINE_CHANNEL_ACCESS_TOKEN", "")
        )
    named: dict[str, dict[str, str]] = {}
    for key, value in env.items():
        match = _NAMED_CHANNEL.match(key)
        if match:
            named.setdefault(match.group(1).lower(), {})[match.group(2)] = value
    for name, parts in named.items():
        channels[name] = Channel(name, parts.get("SECRET", ""), parts.get("ACCESS_TOKEN", ""))
    return channels


def _derived_secret_key(env: Mapping[str, str]) -> str:
    """Without SECRET_KEY, a key derived from the admin secrets: the same in every process (so
    sessions survive across gunicorn workers), and never the password itself."""
    material = f"{env.get('ADMIN_PASSWORD', '')}\x1f{env.get('ADMIN_TOKEN', '')}".encode()
    return hashlib.sha256(b"stepline-session-key\x1f" + material).hexdigest()


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build :class:`Settings` from ``env`` (default ``os.environ``) plus explicit overrides."""
    env = os.environ if env is None else env
    values: dict[str, object] = {
        "database_url": normalize_database_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL),
        "redis_url": env.get("REDIS_URL") or DEFAULT_REDIS_URL,
        "line_api_base_url": (env.get("LINE_API_BASE_URL") or DEFAULT_LINE_API_BASE_URL).rstrip("/"),
        "admin_token": env.get("ADMIN_TOKEN", ""),
        "admin_password": env.get("ADMIN_PASSWORD", ""),
        "secret_key": env.get("SECRET_KEY") or _derived_secret_key(env),
        "quota_timezone": env.get("QUOTA_TIMEZONE") or "Asia/Tokyo",
        "quota_plan": env.get("LINE_QUOTA_PLAN", ""),
        "channels": _channels(env),
        "line_data_api_base_url": (env.get("LINE_DATA_API_BASE_URL") or env.get("LINE_API_BASE_URL")
                                   or DEFAULT_LINE_DATA_API_BASE_URL).rstrip("/"),
        "staff_webhook_url": env.get("STAFF_WEBHOOK_URL", ""),
        "staff_webhook_secret": env.get("STAFF_WEBHOOK_SECRET", ""),
    }
    values.update(overrides)
    if "database_url" in overrides:
        values["database_url"] = normalize_database_url(str(overrides["database_url"]))
    return Settings(**values)  # type: ignore[arg-type]
