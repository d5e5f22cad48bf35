"""Alembic: one head, and upgrade → downgrade → upgrade round-trips on the test database kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from app.migrate import alembic_config, downgrade_to_base, upgrade_to_head
from app.models import Base
from tests.conftest import new_database


def test_migrations_have_a_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_every_revision_is_named_for_what_it_does() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    for revision in script.walk_revisions():
        assert revision.doc and revision.doc.strip().lower() not in {"", "empty message", "initial"}


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    with new_database(tmp_path) as url:
        yield url


def test_upgrade_downgrade_round_trip(empty_database: str) -> None:
    upgrade_to_head(empty_database)
    engine = sa.create_engine(empty_database)
    assert set(Base.metadata.tables) <= set(sa.inspect(engine).get_table_names())
    downgrade_to_base(empty_database)
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade_to_head(empty_database)
    assert set(Base.metadata.tables) <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_migrated_schema_has_exactly_the_models_indexes(empty_database: str) -> None:
    """The models and the migrations name the same indexes and unique constraints, partial ones
    with the same predicate: a migration that forgets an index (or keeps a dropped one) fails here."""
    upgrade_to_head(empty_database)
    engine = sa.create_engine(empty_database)
    inspector = sa.inspect(engine)
    dialect = engine.dialect.name
    partial = 0
    for table in Base.metadata.sorted_tables:
        wanted = {index.name: _predicate(index.dialect_options[dialect].get("where")) for index in table.indexes}
        found = {index["name"]: _predicate(index.get("dialect_options", {}).get(f"{dialect}_where"))
                 for index in inspector.get_indexes(table.name) if not index.get("duplicates_constraint")}
        assert found == wanted, table.name
        partial += sum(where is not None for where in found.values())
        uniques = {c.name for c in table.constraints if isinstance(c, sa.UniqueConstraint)}
        assert {u["name"] for u in inspector.get_unique_constraints(table.name)} == uniques, table.name
    assert partial >= 5  # the predicates were read back, not all missing alike
    engine.dispose()


def _predicate(where: object) -> str | None:
    """A partial index's WHERE, compared without spacing, quoting or the casts PostgreSQL adds."""
    if where is None:
        return None
    text = str(where).lower().replace("::text", "").replace("::character varying", "")
    return "".join(ch for ch in text if ch.isalnum() or ch in "=<>'_,").replace("=anyarray", "in")
