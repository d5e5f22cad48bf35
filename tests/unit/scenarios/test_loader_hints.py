"""Validation messages that name the offending key and explain YAML's own errors."""

from __future__ import annotations

import pytest

from app.scenarios.errors import Issue, ScenarioInvalid
from app.scenarios.loader import parse_scenario


def _issue(text: str) -> Issue:
    with pytest.raises(ScenarioInvalid) as caught:
        parse_scenario(text, "s.yaml")
    (issue,) = caught.value.errors
    return issue


def test_unknown_key_inside_at_is_named_with_did_you_mean() -> None:
    issue = _issue("id: t\nname: n\nstart: {trigger: follow}\nsteps:\n  - id: a\n    at: {wiat: 5d}\n"
                   "    messages: [{text: hi}]\n")
    assert (issue.line, issue.path) == (6, "steps[0].at.wiat")
    assert issue.message.startswith("unknown key 'wiat'; did you mean 'wait'?")


def test_unknown_filter_key_is_named_too() -> None:
    issue = _issue("id: t\nname: n\nstart: {trigger: follow}\nfilter: {atribute: plan, eq: gold}\n"
                   "steps: [{id: a, at: {after: 0s}, messages: [{text: hi}]}]\n")
    assert issue.path == "filter.atribute" and "did you mean 'attribute'?" in issue.message


def test_bad_indentation_is_explained_with_line_and_column() -> None:
    issue = _issue("id: t\nname: n\nstart:\n  trigger: follow\n   from: followed_at\n")
    assert (issue.line, issue.column) == (5, 8)
    assert "line 5, column 8" in issue.message and "indentation" in issue.message
    assert "mapping values are not allowed here" not in issue.message  # PyYAML's wording is replaced


def test_a_bad_window_in_a_list_of_windows_is_pointed_at_by_index() -> None:
    issue = _issue("id: t\nname: n\nstart: {trigger: follow}\n"
                   "send_window: [{from: '09:00', to: '10:00'}, {from: '12:00', to: '1pm'}]\n"
                   "steps: [{id: a, at: {after: 0s}, messages: [{text: hi}]}]\n")
    assert issue.path == "send_window[1].to" and issue.message.startswith('expected a local time "HH:MM"')
