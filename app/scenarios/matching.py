"""Keyword and postback rule matching: first matching rule wins, text compared after normalising."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from app.scenarios.regex import keyword_search
from app.scenarios.rule_defs import KeywordWhen, PostbackWhen, RuleDef


def normalize(text: str) -> str:
    """NFKC (full-width → half-width, ｶﾅ → カナ) + casefold + strip: "ＳＴＯＰ " matches "stop"."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


def keyword_matches(keywords: Iterable[str], match: str, text: str) -> bool:
    """Whether ``text`` fits any keyword under ``match`` (exact | contains | regex).

    ``regex`` keywords run on RE2 (app/scenarios/regex.py): linear in the text, so a friend's
    message cannot hold the friend's transaction (and SQLite's write lock) for long.
    """
    said = normalize(text)
    for keyword in keywords:
        if match == "regex":
            if keyword_search(keyword, said):
                return True
        elif match == "contains":
            if normalize(keyword) in said:
                return True
        elif normalize(keyword) == said:
            return True
    return False


def match_rule(rules: Iterable[RuleDef], *, text: str | None = None, postback: str | None = None) -> RuleDef | None:
    """The first rule whose ``when`` fits the friend's text or postback data, else None."""
    for rule in rules:
        when = rule.when
        if isinstance(when, KeywordWhen) and text is not None and keyword_matches(when.keyword, when.match, text):
            return rule
        if isinstance(when, PostbackWhen) and postback is not None and when.postback == postback:
            return rule
    return None
