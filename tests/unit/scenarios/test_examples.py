"""The example scenarios shipped in scenarios/ parse and plan as documented."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import yaml

from app.scenarios.jsonschema import scenario_json_schema
from app.scenarios.loader import parse_scenarios
from app.scenarios.schema import ScenarioDef
from app.scenarios.timeline import timeline

EXAMPLES = Path(__file__).resolve().parents[3] / "scenarios"


def load_all() -> dict[str, ScenarioDef]:
    files = [(str(p), p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.glob("*.yaml"))]
    return {s.id: s for s in parse_scenarios(files)}


def test_examples_parse() -> None:
    assert {"welcome", "purchase-followup", "demo-quick"} <= set(load_all())


def test_examples_round_trip_through_stored_definition() -> None:
    for scn in load_all().values():
        assert ScenarioDef.model_validate(json.loads(json.dumps(scn.definition()))) == scn


def test_purchase_followup_matches_spec() -> None:
    scn = load_all()["purchase-followup"]
    assert (scn.status, scn.start.event_name, [s.id for s in scn.steps]) == (
        "live", "purchase", ["thanks", "howto", "voices", "recommend"])
    start = datetime(2026, 3, 3, 1, tzinfo=UTC)  # Tuesday 10:00 JST
    local = [e.due_local.strftime("%m-%d %H:%M") for e in timeline(scn, start)]
    assert local == ["03-03 10:00", "03-05 10:00", "03-10 10:00", "04-02 10:00"]


def test_demo_steps_are_seconds_apart() -> None:
    scn = load_all()["demo-quick"]
    start = datetime(2026, 3, 3, 1, tzinfo=UTC)
    offsets = [(e.due_utc - start).total_seconds() for e in timeline(scn, start)]
    assert offsets == sorted(offsets) and offsets[-1] <= 60
    assert (scn.status, scn.start.trigger, scn.start.audience) == ("live", "follow", "new")


def test_examples_validate_against_the_published_json_schema() -> None:
    schema = scenario_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    for path in EXAMPLES.glob("*.yaml"):
        document = json.loads(json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")), default=str))
        jsonschema.validate(document, schema)
