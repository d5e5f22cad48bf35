"""Template variables in message texts: ``{display_name}``, ``{attribute.<name>}`` and
``{attribute.<name>|fallback}`` (the fallback is written when the friend has no such attribute).

``{{`` and ``}}`` write literal braces. Anything else in braces is rejected at upload so a friend
never sees a raw ``{...}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_ATTRIBUTE = re.compile(r"attribute\.([A-Za-z0-9_.:-]+)(?:\|([^{}|]*))?")
EXPECTED = ("expected {display_name}, {attribute.<name>} or {attribute.<name>|fallback} "
            "(write {{ and }} for literal braces)")


def unknown_variables(text: str) -> list[str]:
    """The ``{...}`` tokens in ``text`` that are not known variables."""
    bad = []
    for m in _TOKEN.finditer(text):
        name = m.group(1)
        if name is not None and name != "display_name" and not _ATTRIBUTE.fullmatch(name):
            bad.append("{" + name + "}")
    return bad


def attribute_names(text: str) -> list[str]:
    """The attribute names a text's variables read (``{attribute.plan|free}`` → ``plan``)."""
    names = []
    for m in _TOKEN.finditer(text):
        attr = _ATTRIBUTE.fullmatch(m.group(1)) if m.group(1) is not None else None
        if attr:
            names.append(attr.group(1))
    return names


def attribute_text(value: Any) -> str:
    """How an attribute value reads inside a message (missing/None → empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def substitute(text: str, *, display_name: str | None, attributes: Mapping[str, Any]) -> str:
    """Fill variables; a missing attribute renders its fallback, else (like a missing display name) nothing."""

    def one(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = m.group(1)
        if name == "display_name":
            return display_name or ""
        attr = _ATTRIBUTE.fullmatch(name)
        if attr:
            value = attributes.get(attr.group(1))
            if (value is None or value == "") and attr.group(2) is not None:
                return attr.group(2)
            return attribute_text(value)
        return token  # unreachable for validated scenarios

    return _TOKEN.sub(one, text)
