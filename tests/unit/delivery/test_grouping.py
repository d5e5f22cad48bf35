"""Grouping deliveries into requests: multicast for identical content, keys fixed once."""

from __future__ import annotations

import itertools

from app.delivery.grouping import MULTICAST, MULTICAST_MIN, PUSH, Item, new_request_keys, plan_requests
from app.delivery.progress import Position
from app.line.limits import MULTICAST_MAX


def _item(i: int, content: str = "same", *, request_key: str | None = None, priority: int = 0,
          channel: str = "default") -> Item:
    return Item(i, f"key-{i}", request_key, f"U{i}", channel, priority, [{"type": "text", "text": content}],
                content, Position(i, "s1", 1, 0))


def _keys() -> object:
    counter = itertools.count()
    return lambda: f"group-{next(counter)}"


def test_few_identical_messages_stay_pushes() -> None:
    requests = plan_requests([_item(i) for i in range(MULTICAST_MIN - 1)])
    assert {r.kind for r in requests} == {PUSH}
    assert all(r.key == r.items[0].retry_key for r in requests)


def test_identical_content_becomes_multicasts_of_at_most_500() -> None:
    requests = plan_requests([_item(i) for i in range(1203)], new_key=_keys())  # type: ignore[arg-type]
    assert [r.kind for r in requests] == [MULTICAST] * 3
    assert [len(r.items) for r in requests] == [MULTICAST_MAX, MULTICAST_MAX, 203]
    assert len({r.key for r in requests}) == 3
    assert len(new_request_keys(requests)) == 1203


def test_different_content_or_channel_never_share_a_request() -> None:
    items = [_item(i, "a") for i in range(10)] + [_item(100 + i, "b") for i in range(10)]
    items += [_item(200 + i, "a", channel="shop") for i in range(10)]
    requests = plan_requests(items)
    assert len(requests) == 3
    for request in requests:
        assert len({(i.content_key, i.channel) for i in request.items}) == 1


def test_keyed_rows_are_rebuilt_exactly_as_before() -> None:
    items = [_item(i, request_key="g1") for i in range(3)] + [_item(9, request_key="key-9")]
    requests = plan_requests(items)
    kinds = {r.key: (r.kind, r.delivery_ids) for r in requests}
    assert kinds == {"g1": (MULTICAST, [0, 1, 2]), "key-9": (PUSH, [9])}
    assert new_request_keys(requests) == {}


def test_higher_priority_first() -> None:
    requests = plan_requests([_item(1, "x", priority=1), _item(2, "y", priority=5)])
    assert [r.priority for r in requests] == [5, 1]
