"""Reading the log without holding up the writers.

The gateway's own connections begin every SQLite transaction ``IMMEDIATE`` (``gateway.db``),
which takes the write lock: right for appenders, wrong for a verification or an export that
reads for minutes while resellers' requests must still be logged. Readers here get one
consistent snapshot that blocks nobody: a deferred (reader) transaction on SQLite in WAL mode,
a read-only ``REPEATABLE READ`` transaction on PostgreSQL. Large reads stream with a
server-side cursor (``yield_per``), so memory stays bounded on any log size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import NullPool

from gateway.db import SQLITE_BUSY_TIMEOUT_MS

STREAM_BATCH = 20_000


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """One read-only, consistent view of the database for the length of the block."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection = connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            with connection.begin():
                yield connection
        return
    reader = _sqlite_reader(engine)
    try:
        with reader.connect() as connection, connection.begin():
            yield connection
    finally:
        reader.dispose()


def _sqlite_reader(engine: Engine) -> Engine:
    reader = create_engine(engine.url, poolclass=NullPool)

    @event.listens_for(reader, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(reader, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN")  # deferred: a reader's snapshot, no write lock

    return reader
