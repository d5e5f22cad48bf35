"""The CLI shows the impact and asks before acting; validate runs upload's own checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from app.cli import scenarios as cli
from tests.conftest import build_app

from .helpers import bulk_friends, doc, enrollments, scenario_row, text_of


def _run(app: Flask, *args: str, input: str | None = None) -> Result:
    return app.test_cli_runner().invoke(args=["scenarios", *args], input=input)


def _write(tmp_path: Path, document: dict[str, Any]) -> str:
    path = tmp_path / f"{document['id']}.yaml"
    path.write_text(text_of(document), encoding="utf-8")
    return str(path)


AUDIENCE_ALL = {"start": {"trigger": "follow", "from": "trigger_time", "audience": "all"}}


def test_load_without_a_terminal_or_yes_refuses_and_stores_nothing(app: Flask, tmp_path: Path) -> None:
    bulk_friends(3)
    result = _run(app, "load", _write(tmp_path, doc(**AUDIENCE_ALL)))
    assert result.exit_code == 1
    assert "would enroll 3 friend(s), 3 message(s) due now" in result.output
    assert "run again with --yes" in result.output and enrollments() == []


def test_load_asks_and_acts_on_yes(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bulk_friends(3)
    monkeypatch.setattr(cli, "interactive", lambda: True)
    result = _run(app, "load", _write(tmp_path, doc(**AUDIENCE_ALL)), input="y\n")
    assert result.exit_code == 0, result.output
    assert "Upload 1 scenario(s)?" in result.output and len(enrollments()) == 3


def test_load_answered_no_does_nothing(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "interactive", lambda: True)
    result = _run(app, "load", _write(tmp_path, doc()), input="n\n")
    assert result.exit_code == 1 and "nothing done" in result.output
    assert "created" not in result.output.split("?")[-1]
    with pytest.raises(AssertionError):
        scenario_row("welcome")


def test_load_prints_a_status_change_first(app: Flask, tmp_path: Path) -> None:
    _run(app, "load", "--yes", _write(tmp_path, doc()))
    result = _run(app, "load", "--yes", _write(tmp_path, doc(status="draft")))
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "status    welcome: live -> draft"


def test_publish_shows_the_impact_and_needs_yes(app: Flask, tmp_path: Path) -> None:
    bulk_friends(2)
    _run(app, "load", "--yes", _write(tmp_path, doc(status="draft", **AUDIENCE_ALL)))
    refused = _run(app, "publish", "welcome")
    assert refused.exit_code == 1 and "draft -> live: would enroll 2 friend(s)" in refused.output
    assert scenario_row("welcome").status == "draft"
    assert _run(app, "publish", "--yes", "welcome").exit_code == 0 and scenario_row("welcome").status == "live"


def test_validate_refuses_an_unknown_enroll_target_with_a_suggestion(app: Flask, tmp_path: Path) -> None:
    _run(app, "load", "--yes", _write(tmp_path, doc("vip-onboarding")))
    rules = [{"when": {"keyword": ["vip"]}, "do": [{"enroll": "vip-onbording"}]}]
    result = _run(app, "validate", _write(tmp_path, doc("main", rules=rules)))
    assert result.exit_code == 1
    assert "rules[0].do[0].enroll: unknown scenario 'vip-onbording'; did you mean 'vip-onboarding'?" in result.output


def test_validate_refuses_an_unknown_channel_naming_the_configured_ones(app: Flask, tmp_path: Path) -> None:
    result = _run(app, "validate", _write(tmp_path, doc(channel="shoop")))
    assert result.exit_code == 1
    assert "channel: unknown channel 'shoop'; did you mean 'shop'?" in result.output
    assert "expected one of: default, shop" in result.output


def test_validate_warns_about_attributes_no_field_defines(app: Flask, tmp_path: Path) -> None:
    steps = [{"id": "a", "at": {"after": "0s"}, "messages": [{"text": "plan: {attribute.plan|free}"}]}]
    result = _run(app, "validate", _write(tmp_path, doc(steps=steps)))
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "attribute 'plan'" in result.output


def test_validate_suggests_a_scenario_file_beside_the_one_checked(app: Flask, tmp_path: Path) -> None:
    _write(tmp_path, doc("vip-onboarding"))  # not uploaded, not in the checked set: only a suggestion
    rules = [{"when": {"keyword": ["vip"]}, "do": [{"enroll": "vip-onbording"}]}]
    result = _run(app, "validate", _write(tmp_path, doc("main", rules=rules)))
    assert result.exit_code == 1 and "did you mean 'vip-onboarding'?" in result.output


def test_yes_alone_refuses_past_the_quota_left_and_force_sends(app: Flask, tmp_path: Path) -> None:
    from app.extensions import db
    from app.models.base import utcnow
    from app.models.quota import QuotaMonth
    from app.quota.months import month_key

    bulk_friends(5)
    with db.transaction() as session:
        session.add(QuotaMonth(channel="default", month=month_key(utcnow(), "Asia/Tokyo"), limit=3, reserved=0,
                               external=0, exhausted=False))
    path = _write(tmp_path, doc(**AUDIENCE_ALL))
    refused = _run(app, "load", "--yes", path)
    assert refused.exit_code == 1 and "exceed the quota left" in refused.output and enrollments() == []
    forced = _run(app, "load", "--yes", "--force", path)
    assert forced.exit_code == 0, forced.output
    assert len(enrollments()) == 5


def test_validate_works_before_the_database_is_migrated(app: Flask, env: dict[str, str], tmp_path: Path) -> None:
    from app.config import load_settings

    if not env["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("an empty SQLite file stands for any database without tables")
    unmigrated = build_app(load_settings(env, testing=True, database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    rules = [{"when": {"keyword": ["vip"]}, "do": [{"enroll": "vip"}]}]
    path = _write(tmp_path, doc("main", rules=rules))
    result = unmigrated.test_cli_runner().invoke(args=["scenarios", "validate", path])
    assert result.exit_code == 1  # checked among the files given: 'vip' is in none of them
    assert "database unavailable" in result.output and "unknown scenario 'vip'" in result.output
    ok = unmigrated.test_cli_runner().invoke(args=["scenarios", "validate", path, _write(tmp_path, doc("vip"))])
    assert ok.exit_code == 0, ok.output
