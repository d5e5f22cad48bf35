"""Send requests in LINE's wire form, validated by the SDK once per distinct message list.

A rule's reply or a step's messages go out thousands of times unchanged, and the SDK's typed call
spends about a quarter of a send's CPU on pydantic: validating the request, serializing it back to
a dict, checking the call's arguments, parsing the answer nobody reads. Here the SDK validates a
message list the first time it is seen (``from_dict``, so a bad message is still refused before
LINE) and its own ``to_dict`` gives the body; later sends of the same list reuse that body with
their own recipient or reply token: the same JSON the typed call would send.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

CACHE_SIZE = 1024  # distinct message lists kept (personalised texts each take one)


class WireBodies:
    """Validated request bodies without their per-send fields, by the request type and messages."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._bodies: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    def body(self, model: Any, fields: dict[str, Any], messages: Any, *,
             checked: dict[str, Any] | None = None) -> dict[str, Any]:
        """The request's JSON body: ``fields`` (recipient, token) with the validated rest.

        ``checked`` stands in for ``fields`` when the SDK validates (a multicast's first recipient
        for its 500). Raises ``ValueError``/``TypeError`` for an invalid message list."""
        key = (model.__name__, json.dumps(messages, ensure_ascii=False, separators=(",", ":")))
        with self._lock:
            rest = self._bodies.get(key)
            if rest is not None:
                self._bodies.move_to_end(key)
        if rest is None:
            probe = checked if checked is not None else fields
            request = model.from_dict({**probe, "messages": messages})
            if request is None:  # from_dict(None-like) answers None instead of failing
                raise ValueError("no request")
            rest = {k: v for k, v in request.to_dict().items() if k not in probe}
            with self._lock:
                self._bodies[key] = rest
                while len(self._bodies) > self._size:
                    self._bodies.popitem(last=False)
        return {**fields, **rest}
