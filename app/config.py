"""Settings read once from the environment (SPEC §6); nothing here opens a connection."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_CHANNEL = "default"
DEFAULT_DATABASE_URL = "sqlite:///instance/stepline.db"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_LINE_API_BASE_URL = "https://api.line.me"
DEFAULT_LINE_LOGIN_AUTHORIZE_URL = "https://access.line.me/oauth2/v2.1/authorize"
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
    secret_key: str = ""  # empty: a random key kept in the instance folder (app.secret_key)
    instance_path: str = ""  # empty: Flask's default, ./instance next to the app package
    quota_timezone: str = "Asia/Tokyo"
    quota_plan: str = ""
    max_body_bytes: int = 1024 * 1024
    channels: Mapping[str, Channel] = field(default_factory=dict)
    testing: bool = False
    # measurement (SPEC §10): tracked links and friend-add routes need a public base URL and a key
    public_url: str = ""
    link_signing_key: str = ""
    line_login_channel_id: str = ""
    line_login_channel_secret: str = ""
    line_login_authorize_url: str = DEFAULT_LINE_LOGIN_AUTHORIZE_URL
    line_add_friend_url: str = ""

    @property
    def tracks_links(self) -> bool:
        """Links are rewritten only with a public URL to send friends to and a key to sign with."""
        return bool(self.public_url and self.link_signing_key)
    trusted_proxies: int = 0  # reverse proxies whose X-Forwarded-For/-Proto/-Host are believed
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


def _add_friend_url(env: Mapping[str, str]) -> str:
    """Where a friend lands after a route's LINE Login: the account's chat."""
    if env.get("LINE_ADD_FRIEND_URL"):
        return env["LINE_ADD_FRIEND_URL"]
    basic_id = env.get("LINE_BOT_BASIC_ID", "").strip()
    return f"https://line.me/R/oaMessage/{basic_id}/" if basic_id else ""


def _measurement(env: Mapping[str, str]) -> dict[str, object]:
    """Tracked links and routes: the signing key is LINK_SIGNING_KEY, else SECRET_KEY — never a
    constant (without either, links stay untracked and routes answer 503)."""
    return {
        "public_url": (env.get("PUBLIC_URL") or "").rstrip("/"),
        "link_signing_key": env.get("LINK_SIGNING_KEY") or env.get("SECRET_KEY") or "",
        "line_login_channel_id": env.get("LINE_LOGIN_CHANNEL_ID", ""),
        "line_login_channel_secret": env.get("LINE_LOGIN_CHANNEL_SECRET", ""),
        "line_login_authorize_url": env.get("LINE_LOGIN_AUTHORIZE_URL") or DEFAULT_LINE_LOGIN_AUTHORIZE_URL,
        "line_add_friend_url": _add_friend_url(env),
    }


def _trusted_proxies(value: str) -> int:
    """``TRUSTED_PROXIES``: how many reverse proxies sit in front (0, the default, believes no
    forwarded header, so a client cannot claim HTTPS or another address)."""
    value = value.strip() or "0"
    if not value.isdigit() or int(value) > 10:
        raise ConfigError(f"TRUSTED_PROXIES must be a number of proxies from 0 to 10, got {value!r}")
    return int(value)


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build :class:`Settings` from ``env`` (default ``os.environ``) plus explicit overrides."""
    env = os.environ if env is None else env
    values: dict[str, object] = {
        "database_url": normalize_database_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL),
        "redis_url": env.get("REDIS_URL") or DEFAULT_REDIS_URL,
        "line_api_base_url": (env.get("LINE_API_BASE_URL") or DEFAULT_LINE_API_BASE_URL).rstrip("/"),
        "admin_token": env.get("ADMIN_TOKEN", ""),
        "admin_password": env.get("ADMIN_PASSWORD", ""),
        "secret_key": env.get("SECRET_KEY", ""),  # unset: create_app uses the instance folder's key
        "instance_path": env.get("STEPLINE_INSTANCE_PATH", ""),
        "quota_timezone": env.get("QUOTA_TIMEZONE") or "Asia/Tokyo",
        "quota_plan": env.get("LINE_QUOTA_PLAN", ""),
        "channels": _channels(env),
        "trusted_proxies": _trusted_proxies(env.get("TRUSTED_PROXIES", "")),
        "line_data_api_base_url": (env.get("LINE_DATA_API_BASE_URL") or env.get("LINE_API_BASE_URL")
                                   or DEFAULT_LINE_DATA_API_BASE_URL).rstrip("/"),
        "staff_webhook_url": env.get("STAFF_WEBHOOK_URL", ""),
        "staff_webhook_secret": env.get("STAFF_WEBHOOK_SECRET", ""),
    }
    values.update(_measurement(env))
    values.update(overrides)
    if "database_url" in overrides:
        values["database_url"] = normalize_database_url(str(overrides["database_url"]))
    return Settings(**values)  # type: ignore[arg-type]


_bound: Settings | None = None


def bind_settings(settings: Settings) -> None:
    """Remember the settings this process runs with (``create_app`` or a worker's boot)."""
    global _bound
    _bound = settings


def bound_settings() -> Settings | None:
    """The settings this process was bound with; the domain reads them here, never from ``app``."""
    return _bound
