"""SPEC §8 from the CLI: fields, segments load, friends import/export/bulk, and scenario validate
refusing an unknown segment as upload does."""

from __future__ import annotations

import io
from pathlib import Path

import pyzipper
import sqlalchemy as sa
import yaml
from click.testing import Result
from flask import Flask

from app.extensions import db
from app.models.friends import Friend
from tests.integration.friends.helpers import store_friend
from tests.integration.scenarios.helpers import doc, text_of


def _run(app: Flask, *args: str, input: str | None = None) -> Result:
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_fields_set_list_archive_restore(app: Flask) -> None:
    assert _run(app, "fields", "set", "plan", "--type", "choice", "--choice", "gold", "--choice", "free").exit_code == 0
    assert "plan  choice [gold, free]" in _run(app, "fields", "list").output
    assert _run(app, "fields", "archive", "plan").exit_code == 0
    assert "plan" not in _run(app, "fields", "list").output
    assert _run(app, "fields", "restore", "plan").exit_code == 0
    assert "plan" in _run(app, "fields", "list").output


def test_segments_load_reads_the_directory_in_dependency_order(app: Flask, tmp_path: Path) -> None:
    (tmp_path / "a-vip-buyers.yaml").write_text(yaml.safe_dump(
        {"name": "VIP buyers", "filter": {"all": [{"segment": "vips"}, {"tag": "buyer"}]}}))
    (tmp_path / "vips.yaml").write_text(yaml.safe_dump({"name": "VIPs", "filter": {"tag": "vip"}}))
    store_friend("U1", tags=("vip", "buyer"))
    result = _run(app, "segments", "load", str(tmp_path))
    assert result.exit_code == 0, result.output
    listed = _run(app, "segments", "list").output
    assert "a-vip-buyers         1  VIP buyers" in listed and "vips         1  VIPs" in listed


def test_validate_refuses_an_unknown_segment_like_upload(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "welcome.yaml"
    path.write_text(text_of(doc(filter={"segment": "nope"})))
    result = _run(app, "scenarios", "validate", str(path))
    assert result.exit_code == 1 and "unknown segment 'nope'" in result.output


def test_friends_import_with_progress_then_export(app: Flask, tmp_path: Path) -> None:
    source = tmp_path / "friends.csv"
    source.write_text("\ufeffuser_id,plan,tags\n" + "".join(f"U{i},gold,a;b\n" for i in range(300)), encoding="utf-8")
    result = _run(app, "friends", "import", str(source))
    assert result.exit_code == 0, result.output
    assert '{"created": 300, "updated": 0, "unchanged": 0}' in result.output
    target = tmp_path / "out.zip"
    result = _run(app, "friends", "export", str(target), "--reason", "backup", "--password-stdin",
                  input="secret-pw\n")
    assert result.exit_code == 0, result.output
    with pyzipper.AESZipFile(io.BytesIO(target.read_bytes())) as archive:
        archive.setpassword(b"secret-pw")
        assert len(archive.read("friends.csv").decode("utf-8-sig").splitlines()) == 301


def test_friends_import_bad_cell_exits_1_and_changes_nothing(app: Flask, tmp_path: Path) -> None:
    _run(app, "fields", "set", "age", "--type", "number")
    source = tmp_path / "friends.csv"
    source.write_text("user_id,age\nU1,3\nU2,x\n")
    result = _run(app, "friends", "import", str(source))
    assert result.exit_code == 1 and "row 3, column age" in result.output
    with db.read() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Friend)) == 0


def test_friends_bulk_shows_the_impact_and_asks(app: Flask) -> None:
    store_friend("U1")
    refused = _run(app, "friends", "bulk", "add_tag", "--value", "x", "--user-id", "U1", input="n\n")
    assert refused.exit_code == 1 and '"matched": 1' in refused.output
    done = _run(app, "friends", "bulk", "add_tag", "--value", "x", "--user-id", "U1", "--yes")
    assert '{"matched": 1, "changed": 1}' in done.output
