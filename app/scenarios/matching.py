"""Keyword and postback rule matching: first matching rule wins, text compared after normalising."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from app.scenarios.rule_defs import KeywordWhen, PostbackWhen, RuleDef


def normalize(text: str) -> str:
    """NFKC (full-width → half-width, ｶﾅ → カナ) + casefold + strip: "ＳＴＯＰ " matches "stop"."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@lru_cache(maxsize=65536)
def _normalized(keyword: str) -> str:
    """Keywords are few and fixed: normalise each once (1,000 rules are scanned per message)."""
    return normalize(keyword)


def keyword_matches(keywords: Iterable[str], match: str, text: str) -> bool:
    """Whether ``text`` fits any keyword under ``match`` (exact | contains | regex)."""
    return _said_matches(keywords, match, normalize(text))


def _said_matches(keywords: Iterable[str], match: str, said: str) -> bool:
    for keyword in keywords:
        if match == "regex":
            if _regex(keyword).search(said):
                return True
        elif match == "contains":
            if _normalized(keyword) in said:
                return True
        elif _normalized(keyword) == said:
            return True
    return False


def match_rule(rules: Iterable[RuleDef], *, text: str | None = None, postback: str | None = None) -> RuleDef | None:
    """The first rule whose ``when`` fits the friend's text or postback data, else None."""
    said = normalize(text) if text is not None else None
    for rule in rules:
        when = rule.when
        if isinstance(when, KeywordWhen) and said is not None and _said_matches(when.keyword, when.match, said):
            return rule
        if isinstance(when, PostbackWhen) and postback is not None and when.postback == postback:
            return rule
    return None
