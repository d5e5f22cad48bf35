"""The simulator's in-memory world: channels (one per access token) with their rate buckets,
quota, retry keys and deliveries; users; reply tokens; injectable faults. Single process,
single event loop: no locks needed."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from app.line import limits
from linesim.login import LoginWorld

RATE_CLASSES = ("default", "multicast")


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class TokenBucket:
    """LINE's per-channel, per-endpoint rate limit: ``rate`` requests/s, bursts of one second."""

    rate: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        if self.tokens < 0:
            self.tokens = self.rate
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Accepted:
    """A request LINE accepted under a retry key (answered again as 409 for 24 h)."""

    request_id: str
    body: dict[str, Any]
    at: float


@dataclass
class RichMenus:
    """A channel's rich menus as LINE keeps them: objects, images, aliases, links, the default."""

    menus: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (content type, bytes)
    aliases: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # user id -> rich menu id
    default: str | None = None

    def snapshot(self) -> dict[str, Any]:
        return {"menus": self.menus, "images": {k: {"content_type": v[0], "bytes": v[1]}
                                                for k, v in self.images.items()},
                "aliases": self.aliases, "links": self.links, "default": self.default}


@dataclass
class Channel:
    name: str
    token: str
    quota_limit: int | None = None
    usage: int = 0
    external_usage: int = 0
    month: str = ""
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    retry_keys: dict[str, Accepted] = field(default_factory=dict)
    rich_menus: RichMenus = field(default_factory=lambda: RichMenus())

    def charge(self, recipients: int) -> None:
        self._roll_month()
        self.usage += recipients

    def consumption(self) -> int:
        self._roll_month()
        return self.usage + self.external_usage

    def _roll_month(self) -> None:
        month = time.strftime("%Y-%m", time.gmtime(time.time() + 9 * 3600))  # LINE bills in Asia/Tokyo months
        if month != self.month:
            self.month, self.usage, self.external_usage = month, 0, 0

    def would_exceed(self, recipients: int) -> bool:
        return self.quota_limit is not None and self.consumption() + recipients > self.quota_limit

    def accepted(self, key: str) -> Accepted | None:
        entry = self.retry_keys.get(key)
        if entry is not None and time.time() - entry.at > limits.RETRY_KEY_TTL_S:
            del self.retry_keys[key]
            return None
        return entry


@dataclass
class Fault:
    """Fires on the next ``count`` matching requests, else with ``probability``."""

    probability: float = 0.0
    count: int = 0
    endpoints: tuple[str, ...] = ("push", "multicast", "reply")
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: dict[str, Any]) -> Fault:
        params = {k: v for k, v in spec.items() if k not in ("probability", "next", "endpoints")}
        endpoints = tuple(spec.get("endpoints") or cls.endpoints)
        return cls(float(spec.get("probability", 0.0)), int(spec.get("next", 0)), endpoints, params)

    def fires(self, endpoint: str, rng: random.Random) -> bool:
        if endpoint not in self.endpoints:
            return False
        if self.count > 0:
            self.count -= 1
            return True
        return self.probability > 0 and rng.random() < self.probability


FAULT_KINDS = ("error_500", "rate_429", "latency", "lost_answer")


@dataclass
class Simulator:
    """Everything the simulator remembers (``POST /_sim/reset`` rebuilds it from the startup options)."""

    default_token: str = "test-token"
    latency_ms: float = 0.0
    webhook_url: str | None = None
    channel_secret: str | None = None
    bot_user_id: str = "U" + "0" * 31 + "b"
    reply_token_ttl_s: float = limits.REPLY_TOKEN_TTL_S
    rates: dict[str, float] = field(default_factory=lambda: {"default": limits.PUSH_RATE,
                                                             "multicast": limits.MULTICAST_RATE})
    channels: dict[str, Channel] = field(default_factory=dict)
    by_token: dict[str, Channel] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    display_names: dict[str, str] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)
    reply_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    epoch: object = field(default_factory=object)  # replaced by every reset
    by_recipient: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    stats: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    login: LoginWorld = field(default_factory=LoginWorld)  # LINE Login (linesim/login.py)

    def add_channel(self, name: str, token: str, quota_limit: int | None = None) -> Channel:
        channel = self.channels.get(name) or Channel(name, token)
        if channel.token != token:
            self.by_token.pop(channel.token, None)
            channel.token = token
        channel.quota_limit = quota_limit if quota_limit is not None else channel.quota_limit
        self.channels[name] = channel
        self.by_token[token] = channel
        return channel

    def bucket(self, channel: Channel, endpoint: str) -> TokenBucket:
        """LINE limits each endpoint separately: multicast at its own rate, the others at the default."""
        bucket = channel.buckets.get(endpoint)
        if bucket is None:
            rate = self.rates["multicast" if endpoint == "multicast" else "default"]
            bucket = channel.buckets[endpoint] = TokenBucket(float(rate))
        return bucket

    def count(self, endpoint: str, outcome: str) -> None:
        self.stats[endpoint][outcome] += 1

    def fault(self, kind: str, endpoint: str) -> Fault | None:
        fault = self.faults.get(kind)
        return fault if fault is not None and fault.fires(endpoint, self.rng) else None

    def record(self, channel: Channel, endpoint: str, to: list[str], messages: list[Any],
               retry_key: str | None, request_id: str) -> dict[str, Any]:
        entry = {"channel": channel.name, "endpoint": endpoint, "to": to, "messages": messages,
                 "retry_key": retry_key, "request_id": request_id, "received_at": now_ms()}
        self.deliveries.append(entry)
        for user in to:
            self.by_recipient[user].append(entry)
        return entry

    def issue_reply_token(self, user_id: str) -> str:
        token = random.getrandbits(128).to_bytes(16, "big").hex()
        self.reply_tokens[token] = (user_id, time.monotonic() + self.reply_token_ttl_s)
        return token

    def use_reply_token(self, token: str) -> str | None:
        """The user a valid reply token belongs to; the token is gone afterwards (single use)."""
        entry = self.reply_tokens.pop(token, None)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def display_name(self, user_id: str) -> str:
        return self.display_names.get(user_id) or f"User {user_id[-4:]}"


@dataclass
class SimOptions:
    """Startup configuration; ``POST /_sim/reset`` returns to it."""

    tokens: dict[str, str] = field(default_factory=lambda: {"default": "test-token"})  # channel name -> token
    quota: int | None = None
    latency_ms: float = 0.0
    webhook_url: str | None = None
    channel_secret: str | None = None
    push_rate: float = limits.PUSH_RATE
    multicast_rate: float = limits.MULTICAST_RATE
    seed: int = 0

    def build(self) -> Simulator:
        sim = Simulator(latency_ms=self.latency_ms, webhook_url=self.webhook_url, channel_secret=self.channel_secret)
        sim.rates = {"default": self.push_rate, "multicast": self.multicast_rate}
        sim.rng.seed(self.seed)
        for name, token in self.tokens.items():
            sim.add_channel(name, token, self.quota)
        return sim
