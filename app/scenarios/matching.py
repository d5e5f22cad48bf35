"""Keyword and postback rule matching: first matching rule wins, text compared after normalising."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache

from app.scenarios.regex import keyword_search
from app.scenarios.rule_defs import KeywordWhen, PostbackWhen, RuleDef


def normalize(text: str) -> str:
    """NFKC (full-width → half-width, ｶﾅ → カナ) + casefold + strip: "ＳＴＯＰ " matches "stop"."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


MatchKey = tuple[tuple[str, ...], str, str]  # (keywords, match mode, the friend's text)
_precomputed: ContextVar[Mapping[MatchKey, bool] | None] = ContextVar("stepline_precomputed_matches", default=None)


def precompute_matches(keyword_sets: Iterable[tuple[tuple[str, ...], str]],
                       texts: Iterable[str]) -> dict[MatchKey, bool]:
    """Regex answers computed ahead (outside the friend's transaction, so no write lock is held
    while matching); exact/contains are cheap and left to :func:`keyword_matches`."""
    texts = list(dict.fromkeys(texts))
    return {(keywords, match, text): _keyword_matches(keywords, match, text)
            for keywords, match in dict.fromkeys(keyword_sets) if match == "regex" for text in texts}


@contextmanager
def using_precomputed(results: Mapping[MatchKey, bool]) -> Iterator[None]:
    """Within the block, :func:`keyword_matches` answers from ``results`` where it can."""
    token = _precomputed.set(results)
    try:
        yield
    finally:
        _precomputed.reset(token)


@lru_cache(maxsize=65536)
def _normalized(keyword: str) -> str:
    """Keywords are few and fixed: normalise each once (1,000 rules are scanned per message)."""
    return normalize(keyword)


def keyword_matches(keywords: Iterable[str], match: str, text: str) -> bool:
    """Whether ``text`` fits any keyword under ``match`` (see :func:`_keyword_matches`), from the
    precomputed answers when there are some for it."""
    known = _precomputed.get()
    if known is not None and match == "regex":
        keywords = tuple(keywords)
        answer = known.get((keywords, match, text))
        if answer is not None:
            return answer
    return _keyword_matches(keywords, match, text)


def _keyword_matches(keywords: Iterable[str], match: str, text: str) -> bool:
    """Whether ``text`` fits any keyword under ``match`` (exact | contains | regex).

    ``regex`` keywords run on RE2 (app/scenarios/regex.py): linear in the text, so a friend's
    message cannot hold the friend's transaction (and SQLite's write lock) for long.
    """
    return _said_matches(keywords, match, normalize(text))


def _said_matches(keywords: Iterable[str], match: str, said: str) -> bool:
    for keyword in keywords:
        if match == "regex":
            if keyword_search(keyword, said):
                return True
        elif match == "contains":
            if _normalized(keyword) in said:
                return True
        elif _normalized(keyword) == said:
            return True
    return False


class _RuleIndex:
    """One rule list's ``exact`` keywords as a dict (normalised keyword → the first rule's position)
    and the positions of every other rule (contains, regex, postback), which are scanned in order."""

    def __init__(self, rules: list[RuleDef]) -> None:
        self.rules = rules  # held: the cache key is its id
        self.exact: dict[str, int] = {}
        self.others: list[int] = []
        for position, rule in enumerate(rules):
            when = rule.when
            if isinstance(when, KeywordWhen) and when.match == "exact":
                for keyword in when.keyword:
                    self.exact.setdefault(_normalized(keyword), position)
            else:
                self.others.append(position)


_INDEXES: dict[int, _RuleIndex] = {}
_INDEX_LIMIT = 4096  # rule lists live in the definitions caches; the limit only guards against churn


def _index_for(rules: list[RuleDef]) -> _RuleIndex:
    index = _INDEXES.get(id(rules))
    if index is None or index.rules is not rules or len(index.rules) != len(rules):
        if len(_INDEXES) >= _INDEX_LIMIT:
            _INDEXES.clear()
        index = _INDEXES[id(rules)] = _RuleIndex(rules)
    return index


def match_rule(rules: Iterable[RuleDef], *, text: str | None = None, postback: str | None = None) -> RuleDef | None:
    """The first rule whose ``when`` fits the friend's text or postback data, else None.

    Exact keywords answer from a dict built once per rule list (1,000 live rules are not compared
    one by one); only the other rules placed before that hit are checked, so the order holds."""
    listed = rules if isinstance(rules, list) else list(rules)
    index = _index_for(listed)
    said = normalize(text) if text is not None else None
    exact_at = index.exact.get(said) if said is not None else None
    for position in index.others:
        if exact_at is not None and position > exact_at:
            break
        if _fits(listed[position], text, said, postback):
            return listed[position]
    return listed[exact_at] if exact_at is not None else None


def _fits(rule: RuleDef, text: str | None, said: str | None, postback: str | None) -> bool:
    when = rule.when
    if isinstance(when, KeywordWhen) and said is not None and text is not None:
        # regexes answer from the precomputed results (matched before the write lock was taken)
        return (keyword_matches(when.keyword, when.match, text) if when.match == "regex"
                else _said_matches(when.keyword, when.match, said))
    return isinstance(when, PostbackWhen) and postback is not None and when.postback == postback
