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
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
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
    descriptor = os.open(database + ".write-lock", os.O_RDWR | os.O_CREAT, 0o600)
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
