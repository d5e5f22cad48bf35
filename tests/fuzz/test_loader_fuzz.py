"""Fuzzing the scenario loader: random YAML/JSON documents and mutations of the example
scenarios in scenarios/ give a scenario or positioned errors (or a 413-sized refusal) — never
an exception, within the profile's deadline per example."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from app.limits import DocumentTooLarge
from app.scenarios.errors import ScenarioInvalid
from app.scenarios.loader import parse_scenarios
from tests.fuzz.strategies import ANY_JSON

EXAMPLES = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))
EXAMPLE_TEXTS = [path.read_text(encoding="utf-8") for path in EXAMPLES]
YAML_NOISE = st.sampled_from(["&a ", "*a", "<<: *a\n", "[", "]", "{", "}", ": ", "- ", "\n", "  ", "\t", "'", '"',
                              "!!python/object:os.system ", "? ", "|\n", ">-\n", "#", "%YAML 1.1\n", "---\n", "...\n",
                              "~", "0x", "1e309", ".nan", "10:00", "no", "\x00", "\ufeff", "(a+)+$"])


def _outcome(name: str, text: str) -> None:
    """Parse; only the loader's own answers are allowed out."""
    try:
        parse_scenarios([(name, text)])
    except ScenarioInvalid as exc:
        assert exc.errors, "an invalid document names at least one problem"
        assert all(issue.file == name and issue.message for issue in exc.errors)
    except DocumentTooLarge:
        assert len(text.encode("utf-8", "surrogatepass")) > 256 * 1024


@given(document=ANY_JSON, as_json=st.booleans())
def test_random_documents_load_or_fail_with_issues(document: Any, as_json: bool) -> None:
    text = json.dumps(document) if as_json else yaml.safe_dump(document, allow_unicode=True)
    _outcome("random.json" if as_json else "random.yaml", text)


@given(example=st.sampled_from(EXAMPLE_TEXTS), data=st.data())
def test_mutated_examples_load_or_fail_with_positioned_issues(example: str, data: st.DataObject) -> None:
    text = example
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["insert", "delete", "duplicate-line", "noise"]))
        if action == "insert":
            text = text[:position] + data.draw(st.text(max_size=12)) + text[position:]
        elif action == "delete":
            text = text[:position] + text[position + data.draw(st.integers(1, 40)):]
        elif action == "duplicate-line":
            lines = text.splitlines(keepends=True) or [""]
            index = data.draw(st.integers(0, len(lines) - 1))
            lines.insert(index, lines[index])
            text = "".join(lines)
        else:
            text = text[:position] + data.draw(YAML_NOISE) + text[position:]
    try:
        parse_scenarios([("mutated.yaml", text)])
    except ScenarioInvalid as exc:
        first = exc.errors[0]
        assert first.file == "mutated.yaml" and first.message
        assert first.line is not None or "nesting" in first.message or "YAML" in first.message


@given(example=st.sampled_from(EXAMPLE_TEXTS), field=st.sampled_from(["id", "status", "priority", "steps",
                                                                      "rules", "start", "timezone"]),
       value=ANY_JSON)
def test_examples_with_a_field_replaced_load_or_name_the_field(example: str, field: str, value: Any) -> None:
    document = yaml.safe_load(example)
    document[field] = value
    _outcome("replaced.yaml", yaml.safe_dump(document, allow_unicode=True))


def test_every_example_still_loads() -> None:
    assert len(parse_scenarios([(path.name, text) for path, text in zip(EXAMPLES, EXAMPLE_TEXTS,
                                                                        strict=True)])) == len(EXAMPLES)
