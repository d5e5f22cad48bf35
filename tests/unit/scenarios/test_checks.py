"""Cross-document checks (pure) and the ``{attribute.x|fallback}`` variable."""

from __future__ import annotations

from typing import Any

import yaml

from app.scenarios.checks import Known, cross_check, did_you_mean
from app.scenarios.loader import parse_scenarios
from app.scenarios.render import render_messages
from app.scenarios.variables import substitute, unknown_variables


def _doc(**fields: Any) -> tuple[str, str]:
    document = {"id": "main", "name": "main", "start": {"trigger": "follow"},
                "steps": [{"id": "a", "at": {"after": "0s"}, "messages": [{"text": "hi"}]}], **fields}
    return "main.yaml", yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _check(known: Known, **fields: Any) -> Any:
    files = [_doc(**fields)]
    return cross_check(files, parse_scenarios(files), known)


def test_unknown_enroll_target_names_the_closest_scenario_and_its_line() -> None:
    result = _check(Known(scenarios={"vip-onboarding"}),
                    rules=[{"when": {"keyword": ["x"]}, "do": [{"enroll": "vip-onbording"}]}])
    (issue,) = result.errors
    assert issue.path == "rules[0].do[0].enroll" and issue.line is not None
    assert "did you mean 'vip-onboarding'?" in issue.message


def test_channel_is_checked_only_against_configured_channels() -> None:
    assert _check(Known(scenarios=(), channels=None), channel="prodution").errors == []
    (issue,) = _check(Known(scenarios=(), channels={"default", "production"}), channel="prodution").errors
    assert "did you mean 'production'?" in issue.message and "default, production" in issue.message


def test_without_a_field_table_every_attribute_is_a_warning_not_an_error() -> None:
    steps = [{"id": "a", "at": {"after": "0s"}, "messages": [{"text": "{attribute.plan|free}"}]}]
    result = _check(Known(scenarios=()), steps=steps)
    assert result.errors == [] and [w.path for w in result.warnings] == ["steps[0].messages[0].text"]


def test_did_you_mean_says_nothing_when_nothing_is_close() -> None:
    assert did_you_mean("zzz", ["welcome", "vip"]) == ""


def test_fallback_is_rendered_when_the_attribute_is_missing_or_empty() -> None:
    text = "プラン: {attribute.plan|無料}"
    assert substitute(text, display_name=None, attributes={}) == "プラン: 無料"
    assert substitute(text, display_name=None, attributes={"plan": ""}) == "プラン: 無料"
    assert substitute(text, display_name=None, attributes={"plan": "gold"}) == "プラン: gold"


def test_fallback_syntax_is_a_known_variable() -> None:
    assert unknown_variables("{attribute.plan|free} {attribute.x|} {plan|free}") == ["{plan|free}"]


def test_rendered_step_uses_the_fallback() -> None:
    (scn,) = parse_scenarios([_doc(steps=[{"id": "a", "at": {"after": "0s"},
                                           "messages": [{"text": "{attribute.city|東京}へようこそ"}]}])])
    assert render_messages(scn.steps[0].messages, display_name=None, attributes={})[0]["text"] == "東京へようこそ"
