"""Which deliveries travel together: one push each, or one multicast for identical content.

A request's ``X-Line-Retry-Key`` is fixed before its first attempt and stored on every member as
``request_key``; a retry rebuilds exactly the same requests from those keys, never regrouping.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from app.line.limits import MULTICAST_MAX, MULTICAST_RATE, PUSH_RATE

PUSH = "push"
MULTICAST = "multicast"
# a multicast costs PUSH_RATE / MULTICAST_RATE pushes of rate budget: below that size pushes are cheaper
MULTICAST_MIN = PUSH_RATE // MULTICAST_RATE

if TYPE_CHECKING:
    from app.delivery.progress import Position


class Item(NamedTuple):
    """One delivery ready to send (rendered, recipient known); a tuple: hundreds per batch are
    built, and a frozen dataclass's ``__init__`` costs several times as much."""

    delivery_id: int
    retry_key: str
    request_key: str | None
    user_id: str
    channel: str
    priority: int
    messages: list[dict[str, Any]]
    content_key: str
    position: Position  # where its enrollment waits for it (settled without a re-read)
    quota_reserved: bool = False
    attempts: int = 0  # attempts before this one (for the backoff)


@dataclass
class Request:
    """One call to LINE: ``key`` is its X-Line-Retry-Key."""

    kind: str
    key: str
    channel: str
    priority: int
    messages: list[dict[str, Any]]
    items: list[Item] = field(default_factory=list)

    @property
    def user_ids(self) -> list[str]:
        return [item.user_id for item in self.items]

    @property
    def delivery_ids(self) -> list[int]:
        return [item.delivery_id for item in self.items]

    @property
    def unreserved_ids(self) -> list[int]:
        """Members whose quota is not reserved yet (a retry does not reserve twice)."""
        return [item.delivery_id for item in self.items if not item.quota_reserved]


def plan_requests(items: Iterable[Item], *, new_key: Callable[[], str] = lambda: str(uuid.uuid4()),
                  multicast_min: int = MULTICAST_MIN) -> list[Request]:
    """Group ``items`` into requests, highest priority first.

    Items that already carry a ``request_key`` are rebuilt as that request (push when the key is
    their own retry key, else multicast). Fresh items with identical content and channel become
    multicasts of at most ``MULTICAST_MAX`` when there are at least ``multicast_min`` of them.
    """
    keyed: dict[str, Request] = {}
    fresh: dict[tuple[str, str], list[Item]] = {}
    for item in sorted(items, key=lambda i: i.delivery_id):
        if item.request_key is None:
            fresh.setdefault((item.channel, item.content_key), []).append(item)
            continue
        request = keyed.get(item.request_key)
        if request is None:
            kind = PUSH if item.request_key == item.retry_key else MULTICAST
            request = keyed[item.request_key] = Request(kind, item.request_key, item.channel, item.priority,
                                                        item.messages)
        request.items.append(item)
    requests = list(keyed.values())
    for group in fresh.values():
        if len(group) < multicast_min:
            requests.extend(Request(PUSH, i.retry_key, i.channel, i.priority, i.messages, [i]) for i in group)
            continue
        for start in range(0, len(group), MULTICAST_MAX):
            chunk = group[start:start + MULTICAST_MAX]
            requests.append(Request(MULTICAST, new_key(), chunk[0].channel, max(i.priority for i in chunk),
                                    chunk[0].messages, chunk))
    requests.sort(key=lambda r: -r.priority)
    return requests


def new_request_keys(requests: Iterable[Request]) -> dict[int, str]:
    """delivery id → request key, for members whose stored ``request_key`` must be written now."""
    return {item.delivery_id: request.key for request in requests for item in request.items
            if item.request_key != request.key}
