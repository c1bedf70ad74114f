"""Engine, sessions and migrations: one code path for SQLite and PostgreSQL.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout, and
every transaction begins IMMEDIATE, so a writer takes the database's write lock before it
reads the state it will change; the access-log chain relies on that. PostgreSQL gets the same
guarantee from row locks (see ``gateway.audit.spine``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Dialect, Engine, Executable, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from gateway.errors import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 30_000
READING = "gateway_reading"
# One arbitrary, fixed key: every process that migrates a PostgreSQL database takes this lock.
_PG_MIGRATION_LOCK = 0x6A75_6770  # "jugp"

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and drive them with psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql"
        )
    return parsed.render_as_string(hide_password=False)


def create_gateway_engine(url: str, *, sqlite_synchronous: str = "FULL") -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_pre_ping=False,
            hide_parameters=True,  # bound values (ids, content) never reach an error message
            # A connection for each thread of a gthread worker, readers and the committer at
            # once, kept: a connection opened per request would redo the pragmas and lose
            # SQLite's prepared-statement cache every time.
            pool_size=20,
            max_overflow=20,
        )
        _configure_sqlite(engine, sqlite_synchronous)
        return engine
    # Room for every thread of a gthread worker to read while one commits for all of them.
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True
    )


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Hand transaction control to SQLAlchemy's "begin" event below (SQLAlchemy docs,
        # "Serializable isolation / Savepoints / Transactional DDL" for pysqlite).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        # Deleted content is overwritten with zeros, not left in free pages: an erased
        # customer's values must not stay readable in the file (gateway.customers.erasure).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        # Readers (engine.execution_options(reading=True)) take a snapshot and no lock; in WAL
        # mode they never wait for writers nor make writers wait.
        reading = connection.get_execution_options().get(READING, False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def session_factory(engine: Engine, *, reading: bool = False) -> sessionmaker[Session]:
    bind = engine.execution_options(**{READING: True}) if reading else engine
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=True)


@contextlib.contextmanager
def write_lock(engine: Engine) -> Iterator[None]:
    """Queue SQLite writers in the kernel instead of in SQLite's busy handler.

    SQLite's busy handler polls with sleeps of 1 to 100 ms, so a writer that finds the
    database locked loses milliseconds even when the lock is held for microseconds. Writers
    that take this lock first (an ``flock`` on a file beside the database, per thread and per
    process) wake the moment the previous writer is done. PostgreSQL needs nothing of the kind.
    """
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with file_lock(database + ".write-lock"):
        yield


@contextlib.contextmanager
def file_lock(path: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (made owner-only if missing), on a descriptor of its
    own: so it excludes other threads of this process as well as other processes, and a waiter
    is woken the moment the holder lets go."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


# --- migrations -----------------------------------------------------------------------------

_MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(_MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Only one process migrates at a time; the others wait, then find nothing to do."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database + ".migrate-lock")
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; returns (before, after)."""
    with _migration_lock(engine):
        before = current_revision(engine)
        if before != head_revision():
            command.upgrade(_alembic_config(engine), "head")
        return before, current_revision(engine) or ""


def require_current(engine: Engine) -> None:
    current = current_revision(engine)
    if current != head_revision():
        raise ConfigurationError(
            f"database schema is at {current or 'nothing'}, the gateway needs "
            f"{head_revision()}: run 'gateway db upgrade'"
        )


# --- the hot path -----------------------------------------------------------------------------


class Prepared:
    """A Core statement compiled once per dialect and run straight on the DB-API cursor.

    SQLAlchemy's per-execute machinery (execution context, result metadata, events) costs
    tens of microseconds a statement — more than SQLite or PostgreSQL take to run the hot
    path's indexed lookups. The SQL still comes from SQLAlchemy, from the same construct, for
    both databases; only the execution skips the machinery. Values go through each bound
    type's own processor for the dialect, so a ``Date`` is bound as SQLite or PostgreSQL wants
    it. Rows come back as the driver's tuples (booleans are ``0``/``1`` on SQLite).

    ``expanding`` names one ``bindparam(..., expanding=True)`` (an ``IN`` list): the statement
    is rendered once per power of two of the list's length, the list padded with its last
    value (a repeat changes nothing in an ``IN``), so a handful of renderings serve every
    length up to :data:`MAX_EXPANDED`.

    Runs on anything with ``dialect`` and ``connection`` (the DB-API connection) — a
    SQLAlchemy ``Connection`` inside its transaction, or :class:`RawTransaction`. Driver
    errors are raised as SQLAlchemy's ``DBAPIError`` with the parameters hidden, like every
    other statement of the gateway.
    """

    def __init__(self, statement: Executable, *, expanding: str | None = None) -> None:
        self.statement = statement
        self.expanding = expanding
        self._plans: dict[tuple[str, int], _Plan] = {}
        self._lock = threading.Lock()

    def execute(self, connection: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Run once; returns the DB-API cursor (``fetchall``/``fetchone``)."""
        connection = _handle(connection)
        params = params or {}
        plan = self._plan(connection.dialect, params)
        with driver_errors(connection.dialect, plan.sql):
            cursor = connection.connection.cursor()
            cursor.execute(plan.sql, plan.arguments(params))
        return cursor

    def executemany(self, connection: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        connection = _handle(connection)
        plan = self._plan(connection.dialect, rows[0])
        with driver_errors(connection.dialect, plan.sql):
            cursor = connection.connection.cursor()
            try:
                cursor.executemany(plan.sql, [plan.arguments(row) for row in rows])
            finally:
                cursor.close()

    def render(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[str, Any]:
        """The SQL and driver parameters :meth:`execute` would send (for ``EXPLAIN``)."""
        plan = self._plan(dialect, params)
        return plan.sql, plan.arguments(params)

    def all(self, connection: Any, params: Mapping[str, Any] | None = None) -> list[tuple]:
        cursor = self.execute(connection, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def one_or_none(self, connection: Any, params: Mapping[str, Any] | None = None) -> Any:
        rows = self.all(connection, params)
        if len(rows) > 1:
            raise ValueError("more than one row")
        return rows[0] if rows else None

    def _plan(self, dialect: Dialect, params: Mapping[str, Any]) -> _Plan:
        length = 0
        if self.expanding:
            count = len(params[self.expanding])
            if not 0 < count <= MAX_EXPANDED:
                raise ValueError(f"{self.expanding}: from 1 to {MAX_EXPANDED} values")
            length = 1 << (count - 1).bit_length()
        key = (dialect.name, length)
        plan = self._plans.get(key)
        if plan is None:
            with self._lock:
                plan = self._plans.setdefault(
                    key, _Plan.build(self.statement, dialect, self.expanding, length)
                )
        return plan


MAX_EXPANDED = 1024  # values in one IN list; callers with more split them


class _Plan:
    """One rendering of a statement: its SQL and how to turn named values into the driver's
    parameters (positional for ``?``/``%s`` drivers, a mapping for ``%(name)s`` ones)."""

    def __init__(self, sql: str, positional: bool,
                 binds: list[tuple[str, str, Any, Any]]) -> None:  # fmt: skip
        self.sql = sql
        self.positional = positional
        # (parameter name, the value's name in the caller's mapping, fixed value, processor)
        self.binds = binds

    @classmethod
    def build(cls, statement: Executable, dialect: Dialect, expanding: str | None,
              length: int) -> _Plan:  # fmt: skip
        compiled = statement.compile(dialect=dialect)
        sample: dict[str, Any] = {
            name: None for name, bind in compiled.binds.items() if bind.required
        }
        if expanding:
            sample[expanding] = [None] * length
        state = compiled.construct_expanded_state(sample)
        names = state.positiontup if compiled.positional else list(state.parameters)
        binds = []
        for name in names:
            source, index = name, None
            if expanding and name not in compiled.binds:
                index = int(name.rsplit("_", 1)[1]) - 1  # ids_1 … ids_n, in order
                source = expanding
            bind = compiled.binds[source]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            fixed = _REQUIRED if bind.required else state.parameters[name]
            binds.append((name, source if index is None else (source, index), fixed, processor))
        return cls(state.statement, bool(compiled.positional), binds)

    def arguments(self, params: Mapping[str, Any]) -> tuple | dict[str, Any]:
        values = []
        for _, source, fixed, processor in self.binds:
            if fixed is not _REQUIRED:
                value = fixed
            elif isinstance(source, tuple):
                listed = params[source[0]]
                value = listed[min(source[1], len(listed) - 1)]  # padded with the last
            else:
                value = params[source]
            values.append(processor(value) if processor is not None else value)
        if self.positional:
            return tuple(values)
        return {bind[0]: value for bind, value in zip(self.binds, values, strict=True)}


_REQUIRED = object()


def _handle(connection: Any) -> Any:
    return connection.connection() if isinstance(connection, Session) else connection


@contextlib.contextmanager
def driver_errors(dialect: Dialect, statement: str) -> Iterator[None]:
    """Raise the driver's errors as SQLAlchemy's, parameters hidden."""
    try:
        yield
    except dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(
            statement, None, error, dialect.loaded_dbapi.Error, hide_parameters=True,
            dialect=dialect,
        ) from error  # fmt: skip


@dataclass(frozen=True)
class RawTransaction:
    """A transaction on a pooled DB-API connection, for :class:`Prepared` statements."""

    dialect: Dialect
    connection: Any


@contextlib.contextmanager
def raw_transaction(engine: Engine, *, write: bool) -> Iterator[RawTransaction]:
    """One transaction without SQLAlchemy's ``Connection``: on SQLite it begins as the
    ``begin`` event above does (IMMEDIATE for a writer, a lock-free snapshot for a reader); a
    writer commits on success, a reader rolls back; any error rolls back, and a connection
    the rollback cannot mend is dropped from the pool."""
    dialect = engine.dialect
    connection = engine.raw_connection()
    try:
        with driver_errors(dialect, "BEGIN"):
            if dialect.name == "sqlite":
                connection.cursor().execute("BEGIN IMMEDIATE" if write else "BEGIN")
        yield RawTransaction(dialect, connection)
        with driver_errors(dialect, "COMMIT" if write else "ROLLBACK"):
            connection.commit() if write else connection.rollback()
    except BaseException:
        try:
            connection.rollback()
        except Exception:  # noqa: BLE001 - the connection is broken: never reuse it
            connection.invalidate()
        raise
    finally:
        connection.close()
