"""Tracked links: every http(s) URL of a step becomes ``PUBLIC_URL/l/<token>`` at send time.

The token is ``<delivery id>.<version row>.<step index>.<link index>.<HMAC>`` (hex): it names the
delivery (so the friend and the cycle, resolved when the click is recorded) and the link (the
scenario version's row, the step's position in it, the link's position in the step), so sending
writes nothing extra, the redirect needs no database read, and an unknown or altered token fails
the HMAC check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from app.line import limits

# an http(s) URL inside free text; stops at whitespace, quotes, brackets and CJK punctuation
_URL = re.compile(r"https?://[^\s<>\"'`「」『』（）、。！？【】\u3000]+")
_TRAILING = ".,;:!?)]}*"
_SIG_BYTES = 12  # 96 bits: unguessable, and a short URL
TOKEN_PATTERN = re.compile(r"^([0-9a-f]{1,16})\.([0-9a-f]{1,16})\.([0-9a-f]{1,4})\.([0-9a-f]{1,4})"
                           r"\.([A-Za-z0-9_-]{16})$")


class LinkRef(NamedTuple):
    """What a token names."""

    delivery_id: int
    version_row: int  # scenario_versions.id
    step_index: int
    link_index: int


def find_urls(text: str) -> list[tuple[int, int, str]]:
    """(start, end, url) of every http(s) URL in ``text`` (trailing punctuation left out)."""
    found = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        if len(url) > len("https://"):
            found.append((match.start(), match.start() + len(url), url))
    return found


class LinkSigner:
    """Signs and checks link tokens with a key from the environment (never a constant)."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("a link signing key is required")
        # keyed once: each signature copies this state instead of deriving the HMAC pads again
        self._mac = hmac.new(hashlib.sha256(b"stepline-links\x1f" + key.encode()).digest(), digestmod=hashlib.sha256)

    def _sig(self, payload: str) -> str:
        mac = self._mac.copy()
        mac.update(payload.encode("ascii"))
        return base64.urlsafe_b64encode(mac.digest()[:_SIG_BYTES]).decode("ascii")

    def token(self, ref: LinkRef, scope: str) -> str:
        """``scope`` (the scenario id and version) is signed but not sent: a version row id reused
        by another scenario (SQLite after a delete) fails the check instead of redirecting."""
        payload = f"{ref[0]:x}.{ref[1]:x}.{ref[2]:x}.{ref[3]:x}"
        return f"{payload}.{self._sig(payload + '|' + scope)}"

    def parse(self, token: str, scope_of: Callable[[LinkRef], str | None]) -> LinkRef | None:
        """What the token names, or None when it is malformed, names nothing (``scope_of`` None)
        or its signature is wrong."""
        match = TOKEN_PATTERN.match(token)
        if match is None:
            return None
        payload = ".".join(match.group(i) for i in range(1, 5))
        ref = LinkRef(*(int(match.group(i), 16) for i in range(1, 5)))
        scope = scope_of(ref)
        if scope is None or not hmac.compare_digest(self._sig(payload + "|" + scope), match.group(5)):
            return None
        return ref


def _walk_uris(node: Any, visit: Callable[[str], str | None]) -> Any:
    """A copy of ``node`` with every ``uri`` action's URL (and an imagemap's ``linkUri``) passed
    through ``visit`` (None keeps it); other values are shared, not copied."""
    if isinstance(node, list):
        return [_walk_uris(item, visit) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _walk_uris(value, visit) for key, value in node.items()}
    if node.get("type") == "uri":
        for key in ("uri", "linkUri"):
            value = node.get(key)
            if isinstance(value, str) and value.startswith(("http://", "https://")):
                replaced = visit(value)
                if replaced is not None:
                    out[key] = replaced
    return out


def collect_links(rendered: list[dict[str, Any]]) -> list[str]:
    """The distinct links of rendered messages in order of appearance: text URLs and uri actions."""
    links: list[str] = []

    def note(url: str) -> None:
        if url not in links:
            links.append(url)

    for message in rendered:
        if message.get("type") == "text":
            for _, _, url in find_urls(message.get("text", "")):
                note(url)
        rest = {k: v for k, v in message.items() if k != "text" or message.get("type") != "text"}

        def visit(url: str) -> None:
            note(url)

        _walk_uris(rest, visit)
    return links


def rewrite(rendered: list[dict[str, Any]], links: Sequence[str] | Mapping[str, int],
            tracked_url: Callable[[int], str]) -> tuple[list[dict[str, Any]], int]:
    """Messages with every link of ``links`` replaced by ``tracked_url(index)``, and how many were.

    ``links`` is the link list, or its ``{url: index}`` map (built once per step by the caller).
    A URL not in ``links`` (it came from a friend's attribute) stays as it is. A text that would
    pass LINE's 5,000 UTF-16 unit limit with its tracked URLs keeps its original URLs.
    """
    index = links if isinstance(links, Mapping) else {url: i for i, url in enumerate(links)}
    count = 0

    def visit(url: str) -> str | None:
        nonlocal count
        if url not in index:
            return None
        count += 1
        return tracked_url(index[url])

    out = []
    for message in rendered:
        message = dict(message)
        is_text = message.get("type") == "text"
        if is_text:
            text = message.get("text", "")
            parts, last, n = [], 0, 0
            for start, end, url in find_urls(text):
                if url in index:
                    parts += [text[last:start], tracked_url(index[url])]
                    last, n = end, n + 1
            if n:
                new_text = "".join(parts) + text[last:]
                # a character is at most 2 UTF-16 units: a short text needs no counting
                if len(new_text) * 2 <= limits.MAX_TEXT_UTF16_UNITS \
                        or limits.utf16_units(new_text) <= limits.MAX_TEXT_UTF16_UNITS:
                    message["text"], count = new_text, count + n
        if any(isinstance(value, (dict, list)) for value in message.values()):  # actions to look into
            text_value = message.pop("text", None) if is_text else None
            message = _walk_uris(message, visit)
            if text_value is not None:
                message["text"] = text_value
        out.append(message)
    return out, count


def step_links(step: object, static_render: Callable[[], list[dict[str, Any]]]) -> list[str]:
    """The link list of one step of one stored version, cached per step object: a definition
    object never changes, and a scenario re-created under the same id parses into new objects."""
    cached = _STEP_LINKS.get(id(step))
    if cached is None or cached[0] is not step:
        if len(_STEP_LINKS) > 4096:
            _STEP_LINKS.clear()
        cached = _STEP_LINKS[id(step)] = (step, collect_links(static_render()))  # holds step: its id stays its own
    return cached[1]


_STEP_LINKS: dict[int, tuple[object, list[str]]] = {}
