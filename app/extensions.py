"""Process-wide handles (database, Redis) created empty at import and bound at start-up."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, bind_settings

# How long the webhook waits for the database before answering 500 (LINE gives 2 s, SPEC §12):
# SQLite's busy wait for the write lock, PostgreSQL's lock and statement timeouts.
WEBHOOK_DB_DEADLINE_MS = 700
# Writers that are not on LINE's clock (workers, admin writes) queue for SQLite's one write lock.
SQLITE_BUSY_TIMEOUT_MS = 30000
_BEGIN_OPTION = "stepline_sqlite_begin"


class Database:
    """Owns the engines and session factories; ``bind`` happens in ``create_app`` or a worker."""

    def __init__(self) -> None:
        self._engine: sa.Engine | None = None
        self._deadline_engine: sa.Engine | None = None
        self._pid = 0
        self._sessions: sessionmaker[Session] | None = None
        self._read_sessions: sessionmaker[Session] | None = None
        self.url: str = ""

    def bind(self, url: str) -> None:
        """Create the engine for ``url`` (idempotent for the same URL in the same process)."""
        if self._engine is not None and self.url == url and self._pid == os.getpid():
            return
        self.url = url
        self._pid = os.getpid()
        self._engine = _make_engine(url)
        self._deadline_engine = None
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        # reads take no write lock on SQLite (a deferred BEGIN); elsewhere the same engine
        self._read_sessions = sessionmaker(self._engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"}),
                                           expire_on_commit=False)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            raise RuntimeError("database not bound: call create_app() or db.bind(url) first")
        return self._engine

    @property
    def deadline_engine(self) -> sa.Engine:
        """An engine whose statements give up after ``WEBHOOK_DB_DEADLINE_MS`` (the webhook's ledger
        insert): a locked or slow database makes the webhook answer 500 in time, not hang."""
        if self._deadline_engine is None:
            self._deadline_engine = _make_engine(self.engine.url.render_as_string(hide_password=False),
                                                 deadline_ms=WEBHOOK_DB_DEADLINE_MS)
        return self._deadline_engine

    @contextmanager
    def webhook_write(self) -> Iterator[sa.Connection]:
        """A connection for the webhook's one ledger statement, under its deadline
        (``WEBHOOK_DB_DEADLINE_MS``).

        On PostgreSQL the statement runs in autocommit: one INSERT is atomic by itself, and
        BEGIN and COMMIT were two more round trips for every batch, on the path LINE waits on.
        On SQLite, writers first queue on :class:`SqliteWriterGate`: SQLite's own busy handler
        sleeps 1, 2, 5 … 100 ms between tries, so under a burst most of a webhook's time was
        spent asleep while the lock was free. Raises ``TimeoutError`` (an ``OSError``) when the
        gate does not open in time.
        """
        deadline = time.monotonic() + WEBHOOK_DB_DEADLINE_MS / 1000
        engine = self.deadline_engine
        gate = _writer_gate(engine) if engine.dialect.name == "sqlite" else None
        if gate is None:
            with engine.connect() as connection:  # the deadline engine autocommits on PostgreSQL
                yield connection
            return
        with gate.held(deadline), engine.begin() as connection:
            yield connection

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self) -> Session:
        """A new session; callers own its transaction."""
        if self._sessions is None:
            raise RuntimeError("database not bound: call create_app() or db.bind(url) first")
        return self._sessions()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only: on SQLite its transaction starts deferred, so a held write
        lock never blocks dashboards and API reads (WAL readers see the last commit)."""
        if self._read_sessions is None:
            raise RuntimeError("database not bound: call create_app() or db.bind(url) first")
        with self._read_sessions() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on error."""
        with self.session() as session, session.begin():
            yield session

    def dispose(self) -> None:
        for engine in (self._engine, self._deadline_engine):
            if engine is not None:
                engine.dispose()
        self._engine = self._deadline_engine = None
        self._sessions = self._read_sessions = None


def _make_engine(url: str, deadline_ms: int | None = None) -> sa.Engine:
    """The process's engine; with ``deadline_ms``, one whose waits for locks and statements end
    after that long (SQLite busy timeout; PostgreSQL lock/statement timeouts, pool and connect)."""
    # hide_parameters: a failed statement's log line must not carry friends' ids and texts
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        busy_ms = deadline_ms or SQLITE_BUSY_TIMEOUT_MS
        engine = sa.create_engine(url, hide_parameters=True,
                                  connect_args={"timeout": busy_ms / 1000, "check_same_thread": False})
        _serialize_sqlite_writers(engine, busy_ms)
        return engine
    # no pre-ping: it costs a round trip per checkout on the webhook's hot path; dead connections
    # surface as errors that the caller turns into a 500 (LINE redelivers) or a job retry
    if deadline_ms is None:
        engine = sa.create_engine(url, pool_size=5, max_overflow=10, pool_recycle=1800, hide_parameters=True)
    else:
        engine = sa.create_engine(url, pool_size=5, max_overflow=10, pool_recycle=1800, hide_parameters=True,
                                  pool_timeout=deadline_ms / 1000, isolation_level="AUTOCOMMIT",
                                  connect_args={"connect_timeout": max(1, deadline_ms // 1000)})
    _configure_postgres_sessions(engine, deadline_ms)
    return engine


# The hot statements look up a few hundred rows by primary key in tables whose pages are cached.
# PostgreSQL's default 4.0 prices that for spinning disks: until a table is large it prefers to
# scan all of it (the outbox, the friends) for every batch, a cost that grows with the table.
# 1.1 is the usual figure for SSD or cached data; it applies to Stepline's connections only.
POSTGRES_RANDOM_PAGE_COST = 1.1


def _configure_postgres_sessions(engine: sa.Engine, deadline_ms: int | None) -> None:
    """SET on each new connection (not a startup ``options`` parameter, which poolers such as
    PgBouncer refuse), outside a transaction so the pool's rollback does not undo it. Session-level
    timeouts cost nothing per request, unlike a ``SET LOCAL`` in every transaction."""
    settings = [f"SET random_page_cost = {POSTGRES_RANDOM_PAGE_COST}"]
    if deadline_ms is not None:
        settings += [f"SET lock_timeout = {int(deadline_ms)}", f"SET statement_timeout = {int(deadline_ms)}"]

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        with dbapi_connection.cursor() as cursor:
            for statement in settings:
                cursor.execute(statement)
        dbapi_connection.autocommit = autocommit


def _serialize_sqlite_writers(engine: sa.Engine, busy_ms: int) -> None:
    """SQLite has one writer: take the lock at BEGIN so concurrent claims queue instead of failing.

    Sessions from :meth:`Database.read` begin DEFERRED instead: reading needs no write lock.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let us emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
        conn.exec_driver_sql("BEGIN DEFERRED" if mode == "DEFERRED" else "BEGIN IMMEDIATE")


class SqliteWriterGate:
    """Writers of one SQLite file queue here before BEGIN IMMEDIATE, waking as soon as the
    previous one is done: a thread lock inside the process, an ``flock`` across processes
    (polled finely until the deadline; only one thread per process polls)."""

    POLL_S = 0.0002

    def __init__(self, path: str) -> None:
        self._thread_lock = threading.Lock()
        self._fd = os.open(path + "-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)

    @contextmanager
    def held(self, deadline: float) -> Iterator[None]:
        if not self._thread_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise TimeoutError("SQLite writer gate: deadline passed")
        try:
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise TimeoutError("SQLite writer gate: deadline passed") from None
                    time.sleep(self.POLL_S)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


_gates: dict[tuple[int, str], SqliteWriterGate] = {}
_gates_lock = threading.Lock()


def _writer_gate(engine: sa.Engine) -> SqliteWriterGate | None:
    """The process's gate for the engine's SQLite file (None for in-memory databases)."""
    path = engine.url.database
    if not path or path == ":memory:":
        return None
    key = (os.getpid(), os.path.abspath(path))
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = SqliteWriterGate(key[1])
        return gate


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


def bind_services(settings: Settings) -> None:
    """Point the process-wide handles at the configured database and Redis, and remember the settings."""
    db.bind(settings.database_url)
    redis_handle.bind(settings.redis_url)
    bind_settings(settings)
