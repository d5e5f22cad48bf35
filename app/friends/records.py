"""The friend JSON of the admin API, built in one place (SPEC §8)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from app.models.friends import FRIEND_BLOCKED, Friend


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def friend_json(friend: Friend, tags: Iterable[str], hidden: AbstractSet[str] = frozenset(),
                conversation: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"user_id", "display_name", "status", "opted_out", "followed_at", "last_message_at", "tags",
    "attributes", "route", "handoff", "rich_menu"}``; attributes of archived fields (``hidden``) are left out.

    ``handoff`` (false, or the open handoff) and ``rich_menu`` (the linked menu's id) come from
    ``conversation`` (:func:`app.services.conversations.friend_conversation_state`).
    """
    conversation = conversation or {}
    handoff = conversation.get("handoff")
    return {
        "user_id": friend.user_id,
        "display_name": friend.display_name,
        "status": "blocked" if friend.status == FRIEND_BLOCKED else "active",
        "opted_out": bool(friend.opted_out),
        "followed_at": _iso(friend.followed_at),
        "last_message_at": _iso(friend.last_message_at),
        "tags": sorted(tags),
        "attributes": {k: v for k, v in (friend.attributes or {}).items() if k not in hidden},
        "route": getattr(friend, "route", None),
        "handoff": bool(handoff) if not isinstance(handoff, dict) else handoff,
        "rich_menu": conversation.get("rich_menu"),
    }
