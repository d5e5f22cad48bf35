"""Process-wide handles (database, Redis) created empty at import and bound at start-up."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker


class Database:
    """Owns the engine and session factory; ``bind`` happens in ``create_app`` or a worker."""

    def __init__(self) -> None:
        self._engine: sa.Engine | None = None
        self._pid = 0
        self._sessions: sessionmaker[Session] | None = None
        self.url: str = ""

    def bind(self, url: str) -> None:
        """Create the engine for ``url`` (idempotent for the same URL in the same process)."""
        if self._engine is not None and self.url == url and self._pid == os.getpid():
            return
        self.url = url
        self._pid = os.getpid()
        self._engine = _make_engine(url)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            raise RuntimeError("database not bound: call create_app() or db.bind(url) first")
        return self._engine

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self) -> Session:
        """A new session; callers own its transaction."""
        if self._sessions is None:
            raise RuntimeError("database not bound: call create_app() or db.bind(url) first")
        return self._sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on error."""
        with self.session() as session, session.begin():
            yield session

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None
        self._sessions = None


def _make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _serialize_sqlite_writers(engine)
        return engine
    # no pre-ping: it costs a round trip per checkout on the webhook's hot path; dead connections
    # surface as errors that the caller turns into a 500 (LINE redelivers) or a job retry
    engine = sa.create_engine(url, pool_size=5, max_overflow=10, pool_recycle=1800)
    _price_random_reads_for_cached_data(engine)
    return engine


# The hot statements look up a few hundred rows by primary key in tables whose pages are cached.
# PostgreSQL's default 4.0 prices that for spinning disks: until a table is large it prefers to
# scan all of it (the outbox, the friends) for every batch, a cost that grows with the table.
# 1.1 is the usual figure for SSD or cached data; it applies to Stepline's connections only.
POSTGRES_RANDOM_PAGE_COST = 1.1


def _price_random_reads_for_cached_data(engine: sa.Engine) -> None:
    """SET on each new connection (not a startup ``options`` parameter, which poolers such as
    PgBouncer refuse), outside a transaction so the pool's rollback does not undo it."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET random_page_cost = {POSTGRES_RANDOM_PAGE_COST}")
        dbapi_connection.autocommit = autocommit


def _serialize_sqlite_writers(engine: sa.Engine) -> None:
    """SQLite has one writer: take the lock at BEGIN so concurrent claims queue instead of failing."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let us emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class RedisHandle:
    """A lazily created Redis client for the configured URL."""

    def __init__(self) -> None:
        self.url = ""
        self._client: redis.Redis | None = None

    def bind(self, url: str) -> None:
        if url != self.url:
            self.url = url
            self._client = None

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            if not self.url:
                raise RuntimeError("redis not bound: call create_app() first")
            self._client = redis.Redis.from_url(
                self.url, socket_connect_timeout=1, socket_timeout=5, health_check_interval=30
            )
        return self._client


db = Database()
redis_handle = RedisHandle()


@contextmanager
def in_transaction(session: Session | None) -> Iterator[Session]:
    """The caller's session when given (its transaction), else a short transaction of our own."""
    if session is not None:
        yield session
        return
    with db.transaction() as own:
        yield own
