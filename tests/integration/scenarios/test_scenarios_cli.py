"""``flask scenarios ...``: the same service through the command line, errors as file:line:col lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import Result
from flask import Flask

from .helpers import bulk_friends, doc, enrollments, scenario_row, store_friend, text_of


def _run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["scenarios", *args])


def _write(tmp_path: Path, document: dict[str, Any], name: str | None = None) -> str:
    path = tmp_path / (name or f"{document['id']}.yaml")
    path.write_text(text_of(document), encoding="utf-8")
    return str(path)


def test_validate_ok_and_errors(app: Flask, tmp_path: Path) -> None:
    good = _write(tmp_path, doc())
    ok = _run(app, "validate", good)
    assert ok.exit_code == 0 and "ok  welcome" in ok.output
    bad_path = tmp_path / "bad.yaml"
    bad_path.write_text("id: bad\nname: Bad\nstart: {trigger: follow}\nsteps:\n  - id: a\n    at: {after: soon}\n"
                        "    messages: [{text: hi}]\n", encoding="utf-8")
    failed = _run(app, "validate", good, str(bad_path))
    assert failed.exit_code == 1
    assert f"{bad_path}:6:" in failed.output and "steps[0].at.after: expected a duration" in failed.output


def test_load_is_atomic_and_reports_actions_and_impact(app: Flask, tmp_path: Path) -> None:
    first = _run(app, "load", "--yes", _write(tmp_path, doc()), _write(tmp_path, doc("drafty", status="draft")))
    assert first.exit_code == 0, first.output
    assert "created   welcome  v1  live" in first.output and "created   drafty  v1  draft" in first.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [", encoding="utf-8")
    failed = _run(app, "load", "--yes", _write(tmp_path, doc(name="renamed")), str(broken))
    assert failed.exit_code == 1 and "broken.yaml:1:" in failed.output
    assert scenario_row("welcome").name == "welcome series"
    store_friend("U1")
    assert _run(app, "enroll", "welcome", "U1").exit_code == 0
    again = _run(app, "load", "--yes", _write(tmp_path, doc(steps=doc()["steps"][1:])))
    assert "updated   welcome  v2  live" in again.output
    assert "step hello: 1 friend(s) waiting (removed)" in again.output
    assert [e.next_step_id for e in enrollments()] == ["tips"]


def test_load_a_directory(app: Flask, tmp_path: Path) -> None:
    _write(tmp_path, doc("one"))
    _write(tmp_path, doc("two"), "two.yml")
    result = _run(app, "load", "--yes", str(tmp_path))
    assert result.exit_code == 0 and "one" in result.output and "two" in result.output


def test_list_show_and_lifecycle(app: Flask, tmp_path: Path) -> None:
    _run(app, "load", "--yes", _write(tmp_path, doc(status="draft")))
    assert "welcome" in _run(app, "list").output
    assert _run(app, "publish", "--yes", "welcome").output.strip().splitlines()[-1] == "welcome: live"
    assert _run(app, "pause", "welcome").output.strip() == "welcome: paused"
    conflict = _run(app, "pause", "welcome")
    assert conflict.exit_code == 1 and conflict.output.startswith("error: cannot pause")
    assert _run(app, "resume", "--yes", "welcome").exit_code == 0
    assert _run(app, "duplicate", "welcome", "welcome-copy").exit_code == 0
    shown = _run(app, "show", "welcome-copy")
    assert "status draft" in shown.output and "id: welcome-copy" not in shown.output  # JSON source of the copy
    assert '"id": "welcome-copy"' in shown.output
    assert _run(app, "show", "ghost").exit_code == 1


def test_preview_from_the_cli(app: Flask, tmp_path: Path) -> None:
    _run(app, "load", "--yes", _write(tmp_path, doc(timezone="Asia/Tokyo",
                                           filter={"attribute": "plan", "eq": "gold"})))
    table = _run(app, "preview", "welcome", "--start", "2026-05-01T12:00", "--attr", "plan=gold")
    assert table.exit_code == 0, table.output
    assert "hello" in table.output and "2026-05-01 03:00:00Z" in table.output and "12:00" in table.output
    assert "do not pass" not in table.output
    as_json = _run(app, "preview", "welcome", "--start", "2026-05-01T03:00:00+00:00", "--json")
    report = json.loads(as_json.output)
    assert report["filter_matches"] is False and report["timeline"][2]["due_local"] == "2026-05-02T12:00:00+09:00"
    bad = _run(app, "preview", "welcome", "--start", "soon")
    assert bad.exit_code == 2 and "ISO 8601" in bad.output


def test_publish_runs_the_audience_with_a_progress_bar(app: Flask, tmp_path: Path) -> None:
    bulk_friends(2100)
    _run(app, "load", "--yes", _write(tmp_path, doc(status="draft", start={"audience": "all"})))
    result = _run(app, "publish", "--yes", "welcome")
    assert result.exit_code == 0, result.output
    assert "2100 existing friends enrolled" in result.output
    assert len(enrollments()) == 2100


def test_schema_command(app: Flask) -> None:
    schema = json.loads(_run(app, "schema").output)
    assert schema["title"] == "Stepline scenario"
