"""Build and sign LINE-shaped webhook bodies for tests (the shapes of LINE's own samples)."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from app.line.signature import compute_signature

_counter = itertools.count(1)
DESTINATION = "Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"


def event_id() -> str:
    """A ULID-shaped unique webhookEventId."""
    return f"01TEST{next(_counter):020d}"


def user_source(user_id: str) -> dict[str, Any]:
    return {"type": "user", "userId": user_id}


def base_event(kind: str, user_id: str, *, ts: int | None = None, redelivery: bool = False,
               mode: str = "active", source: dict[str, Any] | None = None, webhook_event_id: str | None = None,
               ) -> dict[str, Any]:
    return {
        "type": kind,
        "mode": mode,
        "timestamp": ts if ts is not None else int(time.time() * 1000),
        "source": source or user_source(user_id),
        "webhookEventId": webhook_event_id or event_id(),
        "deliveryContext": {"isRedelivery": redelivery},
    }


def follow(user_id: str, *, unblocked: bool = False, **kw: Any) -> dict[str, Any]:
    event = base_event("follow", user_id, **kw)
    event["replyToken"] = "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA"
    event["follow"] = {"isUnblocked": unblocked}
    return event


def unfollow(user_id: str, **kw: Any) -> dict[str, Any]:
    return base_event("unfollow", user_id, **kw)


def text(user_id: str, body: str, **kw: Any) -> dict[str, Any]:
    event = base_event("message", user_id, **kw)
    event["replyToken"] = "b60d432864f44d079f6d8efe86cf404b"
    event["message"] = {"id": "444573844083572737", "type": "text", "quoteToken": "q3Plxr4AgKd", "text": body}
    return event


def postback(user_id: str, data: str, **kw: Any) -> dict[str, Any]:
    event = base_event("postback", user_id, **kw)
    event["replyToken"] = "b60d432864f44d079f6d8efe86cf404b"
    event["postback"] = {"data": data}
    return event


def body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"destination": DESTINATION, "events": list(events)}, ensure_ascii=False).encode()


def signed_headers(raw: bytes, secret: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Line-Signature": compute_signature(raw, secret)}
