"""LINE-shaped webhook events, signed like LINE signs them, for the simulator and for tests.

``build_event`` and ``sign`` are plain functions so tests can craft payloads without a server;
``deliver`` POSTs a signed body (with optional redeliveries and duplicates) from the simulator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from typing import Any

import aiohttp

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(timestamp_ms: int | None = None) -> str:
    """A 26-character ULID (48-bit time + 80 random bits), like LINE's ``webhookEventId``."""
    value = ((timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)) << 80) | int.from_bytes(
        os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def sign(body: bytes, secret: str) -> str:
    """``X-Line-Signature``: base64(HMAC-SHA256(channel secret, raw body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode("ascii")


def build_event(kind: str, user_id: str, *, text: str | None = None, data: str | None = None,
                is_unblocked: bool = False, reply_token: str | None = None, timestamp: int | None = None,
                event_id: str | None = None, mode: str = "active", redelivery: bool = False,
                source_type: str = "user") -> dict[str, Any]:
    """One webhook event as LINE sends it (``follow``, ``unfollow``, ``message`` text, ``postback``)."""
    stamp = timestamp if timestamp is not None else int(time.time() * 1000)
    source: dict[str, Any] = {"type": source_type, "userId": user_id}
    if source_type == "group":
        source["groupId"] = "C" + os.urandom(16).hex()
    elif source_type == "room":
        source["roomId"] = "R" + os.urandom(16).hex()
    event: dict[str, Any] = {
        "type": kind, "mode": mode, "timestamp": stamp, "source": source,
        "webhookEventId": event_id or ulid(stamp), "deliveryContext": {"isRedelivery": redelivery},
    }
    if kind == "follow":
        event["follow"] = {"isUnblocked": is_unblocked}
    elif kind == "message":
        message_id = str(int.from_bytes(os.urandom(7), "big"))
        event["message"] = {"id": message_id, "type": "text", "text": text or "", "quoteToken": os.urandom(12).hex()}
    elif kind == "postback":
        event["postback"] = {"data": data or ""}
    if kind in ("follow", "message", "postback") and mode == "active" and reply_token:
        event["replyToken"] = reply_token
    return event


def events_from_specs(specs: list[dict[str, Any]], issue_token: Callable[[str], str]) -> list[dict[str, Any]]:
    """Control-API event specs (``{"type": "follow", "userId": ...}``) → full events; reply tokens issued."""
    events = []
    for spec in specs:
        kind, user_id = spec["type"], spec["userId"]
        mode = spec.get("mode", "active")
        token = issue_token(user_id) if kind in ("follow", "message", "postback") and mode == "active" else None
        event = build_event(kind, user_id, text=spec.get("text"), data=spec.get("data"),
                            is_unblocked=bool(spec.get("isUnblocked", False)), reply_token=token,
                            timestamp=spec.get("timestamp"), event_id=spec.get("webhookEventId"), mode=mode,
                            source_type=spec.get("sourceType", "user"))
        events.append(event)
    return events


def payload(events: list[dict[str, Any]], destination: str) -> bytes:
    return json.dumps({"destination": destination, "events": events}, ensure_ascii=False).encode()


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, secret: str) -> int:
    headers = {"Content-Type": "application/json", "X-Line-Signature": sign(body, secret),
               "User-Agent": "LineBotWebhook/2.0"}
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return 0  # no answer: LINE treats it like an error


async def deliver(url: str, secret: str, events: list[dict[str, Any]], destination: str, *,
                  redeliver: int = 0, duplicate: int = 0, timeout_s: float = 10.0) -> list[int]:
    """POST the events; redeliver (``isRedelivery: true``) up to ``redeliver`` times while the bot
    answers non-2xx, and send ``duplicate`` identical copies regardless. Returns every status."""
    statuses: list[int] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        body = payload(events, destination)
        statuses.append(await _post(session, url, body, secret))
        for _ in range(duplicate):
            statuses.append(await _post(session, url, body, secret))
        attempts = 0
        while attempts < redeliver and not 200 <= statuses[-1] < 300:
            attempts += 1
            again = [{**event, "deliveryContext": {"isRedelivery": True}} for event in events]
            statuses.append(await _post(session, url, payload(again, destination), secret))
    return statuses
