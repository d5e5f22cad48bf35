from __future__ import annotations

from app.scenarios.loader import parse_scenario
from app.scenarios.matching import match_rule, normalize

SCENARIO = parse_scenario("""\
id: m
name: m
start: {trigger: follow}
steps: [{id: a, at: {after: 0s}, messages: [{text: x}]}]
rules:
  - when: {keyword: [配信停止, stop], match: exact}
    do: [{stop: true}]
  - when: {keyword: [詳しく], match: contains}
    do: [{tag: curious}]
  - when: {keyword: ["^order\\\\s*#?(\\\\d+)$"], match: regex}
    do: [{tag: order}]
  - when: {postback: "action=buy"}
    do: [{tag: buyer}]
  - when: {keyword: [stop], match: contains}
    do: [{tag: never-reached-for-exact-stop}]
""")
RULES = SCENARIO.rules


def test_normalize_folds_width_case_and_spaces() -> None:
    assert normalize("  ＳＴＯＰ ") == "stop"
    assert normalize("ｶﾀｶﾅ") == "カタカナ"
    assert normalize("Straße") == "strasse"


def test_full_width_and_case_variants_match_exact_keywords() -> None:
    for said in ("stop", "STOP", "ＳＴＯＰ", " Stop ", "配信停止"):
        assert match_rule(RULES, text=said) is RULES[0], said


def test_exact_does_not_match_longer_text() -> None:
    assert match_rule(RULES, text="please stop it") is RULES[4]


def test_contains_and_regex() -> None:
    assert match_rule(RULES, text="もっと詳しく知りたい") is RULES[1]
    assert match_rule(RULES, text="ORDER #１２３") is RULES[2]  # full-width digits normalised
    assert match_rule(RULES, text="hello") is None


def test_first_match_wins() -> None:
    assert match_rule(RULES, text="stop") is RULES[0]


def test_postback_matches_data_exactly() -> None:
    assert match_rule(RULES, postback="action=buy") is RULES[3]
    assert match_rule(RULES, postback="action=buy&x=1") is None
    assert match_rule(RULES, text="action=buy") is None


def _rules(*whens: str) -> list:
    text = "\n".join(f"  - when: {w}\n    do: [{{tag: t{i}}}]" for i, w in enumerate(whens))
    return parse_scenario("id: o\nname: o\nstart: {trigger: follow}\n"
                          "steps: [{id: a, at: {after: 0s}, messages: [{text: x}]}]\n"
                          f"rules:\n{text}\n").rules


def test_a_contains_rule_listed_before_an_exact_one_still_wins() -> None:
    rules = _rules("{keyword: [sale], match: contains}", "{keyword: [sale], match: exact}")
    assert match_rule(rules, text="SALE") is rules[0]


def test_an_exact_rule_listed_before_a_contains_one_wins() -> None:
    rules = _rules("{keyword: [a1], match: exact}", "{keyword: [sale], match: exact}",
                   "{keyword: [sale], match: contains}")
    assert match_rule(rules, text="ｓａｌｅ ") is rules[1]


def test_the_first_of_two_exact_rules_with_the_same_keyword_wins_among_a_thousand() -> None:
    rules = _rules(*[f"{{keyword: [k{i}], match: exact}}" for i in range(1000)], "{keyword: [k500], match: exact}")
    assert match_rule(rules, text="K500") is rules[500]
    assert match_rule(rules, text="k1000") is None
    assert match_rule(rules, postback="k1") is None  # a postback never meets keyword rules
