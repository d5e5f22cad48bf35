"""Alembic: one head, and upgrade → downgrade → upgrade round-trips on the test database kind."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from app.migrate import alembic_config, downgrade_to_base, upgrade_to_head
from app.models import Base
from tests.conftest import _create_postgres_database, _drop_postgres_database


def test_migrations_have_a_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_every_revision_is_named_for_what_it_does() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    for revision in script.walk_revisions():
        assert revision.doc and revision.doc.strip().lower() not in {"", "empty message", "initial"}


def test_upgrade_downgrade_round_trip(tmp_path: Path) -> None:
    if os.environ.get("STEPLINE_TEST_DB", "sqlite") == "postgres":
        url, name = _create_postgres_database()
    else:
        url, name = f"sqlite:///{tmp_path / 'roundtrip.db'}", ""
    try:
        upgrade_to_head(url)
        engine = sa.create_engine(url)
        assert set(Base.metadata.tables) <= set(sa.inspect(engine).get_table_names())
        downgrade_to_base(url)
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade_to_head(url)
        assert set(Base.metadata.tables) <= set(sa.inspect(engine).get_table_names())
        engine.dispose()
    finally:
        if name:
            _drop_postgres_database(name)
