"""Hypothesis strategies: LINE webhook events (right and wrong shapes), scenario-like documents."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import strategies as st

_ids = itertools.count(1)
# what LINE can send in a text: any character but NUL and unpaired surrogates (JSON columns refuse those)
TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


def text(min_size: int = 0, max_size: int = 20) -> st.SearchStrategy[str]:
    return st.text(TEXT, min_size=min_size, max_size=max_size)

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
ANY_JSON = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                               st.dictionaries(st.text(max_size=8), inner,
                                                                               max_size=4)),
                        max_leaves=20)


@st.composite
def event_id(draw: st.DrawFn) -> str:
    return f"01FUZZ{next(_ids):014d}{draw(st.integers(0, 999)):03d}"


def valid_event() -> st.SearchStrategy[dict[str, Any]]:
    """Events in the shapes of LINE's samples (follow, unfollow, text, postback, unknown types,
    group sources, standby)."""
    source = st.one_of(
        st.builds(lambda u: {"type": "user", "userId": u}, st.from_regex(r"U[0-9a-f]{32}", fullmatch=True)),
        st.builds(lambda g, u: {"type": "group", "groupId": g, "userId": u},
                  st.from_regex(r"C[0-9a-f]{32}", fullmatch=True), st.from_regex(r"U[0-9a-f]{32}", fullmatch=True)),
    )
    common = {
        "webhookEventId": event_id(),
        "timestamp": st.integers(min_value=0, max_value=253_402_300_799_999),
        "mode": st.sampled_from(["active", "standby"]),
        "source": source,
        "deliveryContext": st.builds(lambda r: {"isRedelivery": r}, st.booleans()),
    }
    message = st.builds(lambda text: {"id": "1", "type": "text", "text": text}, text(max_size=200))
    return st.one_of(
        st.fixed_dictionaries({**common, "type": st.just("follow"), "replyToken": text(1, 40),
                               "follow": st.builds(lambda u: {"isUnblocked": u}, st.booleans())}),
        st.fixed_dictionaries({**common, "type": st.just("unfollow")}),
        st.fixed_dictionaries({**common, "type": st.just("message"), "replyToken": text(1, 40),
                               "message": message}),
        st.fixed_dictionaries({**common, "type": st.just("postback"),
                               "postback": st.builds(lambda d: {"data": d}, text(max_size=300))}),
        st.fixed_dictionaries({**common, "type": st.sampled_from(["join", "leave", "beacon", "unsend", "memberJoined",
                                                                  "accountLink", "somethingNew"])}),
    )


FIELDS = ["webhookEventId", "timestamp", "mode", "source", "type", "replyToken", "deliveryContext", "message",
          "postback", "source.userId", "source.type", "message.text", "postback.data", "deliveryContext.isRedelivery"]
ODD_VALUES = st.one_of(
    ANY_JSON,
    st.sampled_from([10**20, -(10**17), 2**63, -1, 1e300, True, [], {}, "", "x" * 70, ["U1"], {"a": 1}]),
    st.integers(min_value=1, max_value=70).map(lambda depth: _nested(depth)),
)


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def mutated_event(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with one field set to a random JSON value, or removed."""
    event = draw(valid_event())
    path = draw(st.sampled_from(FIELDS)).split(".")
    target = event
    for part in path[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    if draw(st.booleans()):
        target[path[-1]] = draw(ODD_VALUES)
    else:
        target.pop(path[-1], None)
    return event
