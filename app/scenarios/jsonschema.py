"""JSON Schema of scenario documents, for editor completion and validation (e.g. yaml-language-server)."""

from __future__ import annotations

from typing import Any

from app.scenarios.schema import ScenarioDef

SCHEMA_ID = "https://stepline.local/schemas/scenario.json"


def scenario_json_schema() -> dict[str, Any]:
    """The schema of a scenario file as written (aliases such as ``from``, durations as text).

    Cross references (goto, goal) and template variables are checked by the loader only.
    """
    schema = ScenarioDef.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "Stepline scenario", **{k: v for k, v in schema.items() if k != "title"}}
