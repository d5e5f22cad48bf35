"""Keyword regular expressions in RE2 syntax: matched in time linear in the text, never backtracking.

A friend's message must not stall a worker (SPEC §12): Python's ``re`` backtracks, so ``(a+)+$``
against ``aaaa…!`` takes exponential time. RE2 refuses the few constructs that need
backtracking (look-around, back-references), so upload validation uses the same compiler.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

from app.limits import MAX_REGEX_CHARS

# a compiled program beyond this (RE2's own default is 8 MiB) is refused at upload rather than
# degrading to a slower matcher for every message
MAX_PROGRAM_MEMORY = 8 << 20


class RegexInvalid(ValueError):
    """The pattern is not valid RE2 syntax (or compiles to a program too large)."""


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # an admin's typo is a validation error, not a line on stderr
    options.max_mem = MAX_PROGRAM_MEMORY
    return options


@lru_cache(maxsize=1024)
def compile_keyword(pattern: str) -> Any:
    """The compiled, case-insensitive pattern; :class:`RegexInvalid` when RE2 refuses it or it is
    longer than ``MAX_REGEX_CHARS`` (compiling stays cheap wherever it happens, even in a worker's
    transaction)."""
    if len(pattern) > MAX_REGEX_CHARS:
        raise RegexInvalid(f"regular expression longer than {MAX_REGEX_CHARS} characters")
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexInvalid(f"invalid regular expression (RE2 syntax): {reason}") from None


def keyword_search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` occurs anywhere in ``text`` (linear time in ``len(text)``)."""
    return compile_keyword(pattern).search(text) is not None
