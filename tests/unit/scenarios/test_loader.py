"""Validation errors name file, line, column, field path and what was expected."""

from __future__ import annotations

import textwrap

import pytest

from app.scenarios.errors import Issue, ScenarioInvalid
from app.scenarios.loader import parse_scenario, parse_scenarios

HEAD = """\
id: t
name: test
start:
  trigger: follow
"""


def doc(body: str, head: str = HEAD) -> str:
    return head + textwrap.dedent(body)


def only_issue(text: str, name: str = "s.yaml") -> Issue:
    with pytest.raises(ScenarioInvalid) as info:
        parse_scenario(text, name)
    assert len(info.value.errors) == 1, info.value.errors
    return info.value.errors[0]


def where(issue: Issue) -> tuple[int | None, int | None, str]:
    return issue.line, issue.column, issue.path


def test_minimal_scenario_gets_spec_defaults() -> None:
    scn = parse_scenario(doc("""\
        steps:
          - id: a
            at: {after: 0s}
            messages: [{text: hi}]
        """))
    assert (scn.status, scn.channel, scn.timezone, scn.priority) == ("draft", "default", "Asia/Tokyo", 0)
    assert (scn.start.from_, scn.start.audience, scn.start.on_start_change, scn.start.on_refollow) == (
        "trigger_time", "new", "restart", "resume")
    assert (scn.frequency, scn.respect_opt_out, scn.on_quota_exhausted) == ("once", True, "hold")
    assert scn.step_index("a") == 0
    with pytest.raises(KeyError):
        scn.step_index("missing")


def issues(text: str) -> list[Issue]:
    with pytest.raises(ScenarioInvalid) as info:
        parse_scenario(text, "s.yaml")
    return info.value.errors


def test_unknown_field_points_at_the_key_and_suggests() -> None:
    missing, issue = issues(doc("""\
        steps:
          - id: a
            at: {after: 0s}
            mesages: [{text: hi}]
        """))
    assert where(missing) == (6, 5, "steps[0].messages")
    assert where(issue) == (8, 5, "steps[0].mesages")
    assert "did you mean 'messages'" in issue.message


def test_missing_field_points_at_the_parent_mapping() -> None:
    issue = only_issue(doc("""\
        steps:
          - id: a
            at: {after: 0s}
        """))
    assert where(issue) == (6, 5, "steps[0].messages")
    assert issue.message == "missing required field 'messages'"


def test_bad_trigger_says_what_was_expected() -> None:
    issue = only_issue("id: t\nname: n\nstart:\n  trigger: folow\n"
                       "steps: [{id: a, at: {after: 0s}, messages: [{text: x}]}]\n")
    assert where(issue) == (4, 12, "start.trigger")
    assert issue.message.startswith("expected one of: follow, keyword, manual, event:<name>")


def test_bad_at_form_lists_the_forms() -> None:
    issue = only_issue(doc("""\
        steps:
          - id: a
            at: {soon: 1d}
            messages: [{text: hi}]
        """))
    assert where(issue) == (7, 10, "steps[0].at.soon")  # the key no form has is named, at the key
    assert "{after: D}" in issue.message and "{wait: D}" in issue.message


def test_bad_duration_points_at_the_value() -> None:
    issue = only_issue(doc("""\
        steps:
          - id: a
            at: {wait: 1x}
            messages: [{text: hi}]
        """))
    assert where(issue) == (7, 16, "steps[0].at.wait")
    assert "expected a duration" in issue.message


def test_unquoted_time_of_day_is_read_as_text_not_sexagesimal() -> None:
    scn = parse_scenario(doc("""\
        steps:
          - id: a
            at: {day: 1, time: 10:00}
            messages: [{text: hi}]
        """))
    assert scn.steps[0].at.time.hour == 10  # type: ignore[union-attr]


def test_bad_time_of_day() -> None:
    issue = only_issue(doc("""\
        steps:
          - id: a
            at: {day: 1, time: "25:00"}
            messages: [{text: hi}]
        """))
    assert where(issue) == (7, 24, "steps[0].at.time")


def test_duplicate_step_id_points_at_the_second_id() -> None:
    issue = only_issue(doc("""\
        steps:
          - id: a
            at: {after: 0s}
            messages: [{text: hi}]
          - id: a
            at: {wait: 1d}
            messages: [{text: again}]
        """))
    assert where(issue) == (9, 9, "steps[1].id")
    assert issue.message == "duplicate step id 'a'"


def test_goto_unknown_step_and_undeclared_goal() -> None:
    with pytest.raises(ScenarioInvalid) as info:
        parse_scenario(doc("""\
            steps:
              - id: a
                at: {after: 0s}
                messages: [{text: hi}]
            rules:
              - when: {keyword: go}
                do: [{goto: nowhere}, {goal: won}]
            """), "s.yaml")
    goto, goal = info.value.errors
    assert where(goto) == (11, 17, "rules[0].do[0].goto")
    assert "unknown step 'nowhere': expected one of: a" == goto.message
    assert where(goal) == (11, 34, "rules[0].do[1].goal")
    assert "not declared" in goal.message


def test_regex_that_does_not_compile() -> None:
    issue = only_issue(doc("""\
        steps:
          - id: a
            at: {after: 0s}
            messages: [{text: hi}]
        rules:
          - when: {keyword: [ok, "(oops"], match: regex}
            do: [{stop: true}]
        """))
    assert where(issue) == (10, 26, "rules[0].when.keyword[1]")
    assert issue.message.startswith("invalid regular expression")


def test_unknown_variable_points_at_the_text() -> None:
    issue = only_issue(doc("""\
        steps:
          - id: a
            at: {after: 0s}
            messages:
              - text: "こんにちは {name}さん"
        """))
    assert where(issue) == (9, 15, "steps[0].messages[0].text")
    assert "unknown variable {name}" in issue.message


def test_known_variables_and_escaped_braces_are_fine() -> None:
    parse_scenario(doc("""\
        steps:
          - id: a
            at: {after: 0s}
            messages: [{text: "{display_name} {attribute.plan} {{literal}}"}]
        """))


def test_text_over_5000_utf16_units_is_rejected_emoji_counting_two() -> None:
    ok = "あ" * 4998 + "😀"  # 5,000 units
    parse_scenario(doc(f"steps: [{{id: a, at: {{after: 0s}}, messages: [{{text: '{ok}'}}]}}]\n"))
    too_long = "a" * 4999 + "😀"  # 5,001 units, 5,000 code points
    issue = only_issue(doc(f"steps: [{{id: a, at: {{after: 0s}}, messages: [{{text: '{too_long}'}}]}}]\n"))
    assert issue.path == "steps[0].messages[0].text"
    assert "5001 UTF-16 code units" in issue.message


def test_more_than_five_messages_per_step() -> None:
    issue = only_issue(doc("steps: [{id: a, at: {after: 0s}, messages: [{text: a}, {text: b}, {text: c}, "
                           "{text: d}, {text: e}, {text: f}]}]\n"))
    assert where(issue) == (5, 44, "steps[0].messages")
    assert issue.message == "expected at most 5 item(s), got 6"


def test_quick_reply_limits() -> None:
    items = ", ".join(f"{{label: l{i}, text: t{i}}}" for i in range(14))
    issue = only_issue(doc(f"steps: [{{id: a, at: {{after: 0s}}, messages: [{{text: x, quick_reply: [{items}]}}]}}]\n"))
    assert issue.path == "steps[0].messages[0].quick_reply"
    assert "at most 13" in issue.message
    issue = only_issue(doc("steps: [{id: a, at: {after: 0s}, messages: [{text: x, quick_reply: "
                           "[{label: 一二三四五六七八九十一二三四五六七八九十一, text: t}]}]}]\n"))
    assert issue.path == "steps[0].messages[0].quick_reply[0].label"
    data = "x" * 301
    issue = only_issue(doc("steps: [{id: a, at: {after: 0s}, messages: [{text: x, quick_reply: "
                           f"[{{label: ok, postback: {data}}}]}}]}}]\n"))
    assert issue.path == "steps[0].messages[0].quick_reply[0].postback"


def test_yaml_syntax_error_position() -> None:
    issue = only_issue("id: t\nname: [unclosed\nstart: {trigger: follow}\n")
    assert issue.line == 3 and issue.column == 6
    assert issue.message.startswith("invalid YAML")


def test_bad_indentation_is_a_yaml_error_with_position() -> None:
    issue = only_issue("id: t\nname: x\n  start: 1\n")
    assert (issue.line, issue.column) == (3, 8)


def test_duplicate_yaml_key_is_an_error() -> None:
    issue = only_issue(doc("""\
        steps: [{id: a, at: {after: 0s}, messages: [{text: x}]}]
        name: again
        """))
    assert where(issue) == (6, 1, "")
    assert "duplicate key 'name'" in issue.message


def test_json_documents_are_accepted_with_positions() -> None:
    text = '{\n  "id": "j",\n  "name": "json",\n  "start": {"trigger": "follow"},\n' \
           '  "steps": [{"id": "a", "at": {"after": "0s"}, "messages": [{"text": "x"}]}]\n}\n'
    assert parse_scenario(text).id == "j"
    issue = only_issue(text.replace('"follow"', '"nope"'))
    assert where(issue) == (4, 24, "start.trigger")


def test_invalid_json_position() -> None:
    issue = only_issue('{"id": "x",\n "name": }')
    assert (issue.line, issue.column) == (2, 10)


def test_every_file_is_checked_and_errors_are_raised_together() -> None:
    good = doc("steps: [{id: a, at: {after: 0s}, messages: [{text: x}]}]\n")
    bad = doc("steps: []\n")
    with pytest.raises(ScenarioInvalid) as info:
        parse_scenarios([("a.yaml", good), ("b.yaml", bad), ("c.yaml", "id: [\n")])
    assert [e.file for e in info.value.errors] == ["b.yaml", "c.yaml"]


def test_duplicate_scenario_ids_across_files() -> None:
    good = doc("steps: [{id: a, at: {after: 0s}, messages: [{text: x}]}]\n")
    with pytest.raises(ScenarioInvalid) as info:
        parse_scenarios([("a.yaml", good), ("b.yaml", good)])
    (issue,) = info.value.errors
    assert (issue.file, issue.line, issue.column, issue.path) == ("b.yaml", 1, 5, "id")
    assert "also in a.yaml" in issue.message


def test_scenario_invalid_renders_file_line_column_path_message() -> None:
    with pytest.raises(ScenarioInvalid) as info:
        parse_scenario(doc("steps: [{id: a, at: {after: 0s}, messages: [{text: x}]}]\nstatus: on\n"),
                       "scenarios/x.yaml")
    assert str(info.value) == "scenarios/x.yaml:6:9: status: expected one of: draft, live, paused, got 'on'"
    assert info.value.details[0]["line"] == 6


def test_definition_round_trips_through_json() -> None:
    from app.scenarios.schema import ScenarioDef

    scn = parse_scenario(open("scenarios/purchase-followup.yaml", encoding="utf-8").read())
    assert ScenarioDef.model_validate(scn.definition()) == scn


def test_keyword_trigger_needs_keywords() -> None:
    text = "id: t\nname: n\nstart: {trigger: keyword}\nsteps: [{id: a, at: {after: 0s}, messages: [{text: x}]}]\n"
    issue = only_issue(text)
    assert where(issue) == (3, 8, "start")
    scn = parse_scenario(text.replace("{trigger: keyword}", "{trigger: keyword, keywords: [参加]}"))
    assert scn.start.keywords == ["参加"]


def test_event_trigger_and_attribute_start() -> None:
    scn = parse_scenario("id: t\nname: n\nstart: {trigger: 'event:purchase', from: 'attribute:birthday_date'}\n"
                         "steps: [{id: a, at: {after: 0s}, messages: [{text: x}]}]\n")
    assert (scn.start.event_name, scn.start.from_attribute) == ("purchase", "birthday_date")


def test_filter_unknown_operator_points_at_the_key() -> None:
    issue = only_issue(doc("""\
        filter:
          all:
            - {attribute: plan, equals: gold}
        steps: [{id: a, at: {after: 0s}, messages: [{text: x}]}]
        """))
    assert where(issue) == (7, 25, "filter.all[0].equals")
    assert "expected one of: attribute, eq" in issue.message


def test_empty_document_and_non_mapping() -> None:
    assert only_issue("").message == "empty document: expected a scenario mapping"
    assert where(only_issue("- a\n")) == (1, 1, "")


def test_one_reply_per_rule_because_reply_tokens_are_single_use() -> None:
    issue = only_issue(doc("""\
        steps: [{id: a, at: {after: 0s}, messages: [{text: x}]}]
        rules:
          - when: {postback: x}
            do: [{reply: [{text: a}]}, {reply: [{text: b}]}]
        """))
    assert where(issue) == (7, 5, "rules[0]")
    assert "at most one reply" in issue.message


def test_single_digit_hour_and_yaml_1_1_booleans_are_text() -> None:
    scn = parse_scenario(doc("""\
        send_window: {from: 9:00, to: "18:00"}
        steps: [{id: a, at: {after: 0s}, messages: [{text: x}]}]
        rules:
          - when: {keyword: [no, yes, "on"]}
            do: [{tag: answered}]
        """))
    assert scn.send_window is not None and scn.send_window.from_.hour == 9
    assert scn.rules[0].when.keyword == ["no", "yes", "on"]  # type: ignore[union-attr]
