"""Hold the database's write lock from another connection, as a long worker transaction would."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


@contextmanager
def holding_write_lock(database_url: str, table: str = "webhook_events") -> Iterator[None]:
    """SQLite: an open ``BEGIN IMMEDIATE`` (the one write lock). PostgreSQL: ``LOCK TABLE ... IN
    EXCLUSIVE MODE`` on ``table`` (inserts wait; plain reads do not)."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
            yield
            connection.rollback()
    finally:
        engine.dispose()
