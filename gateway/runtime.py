"""The gateway's live parts — configuration, database and clock — built once per process and
shared by the web application and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway import allowlist, db
from gateway.clock import Clock, SystemClock, ZonedClock
from gateway.config import Config


@dataclass
class Runtime:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    readers: sessionmaker[Session]

    @classmethod
    def open(cls, config: Config, clock: Clock | None = None) -> Runtime:
        allowlist.current()  # an invalid allowlist stops the gateway before it serves anything
        engine = db.create_gateway_engine(
            config.database_url, sqlite_synchronous=config.sqlite_synchronous
        )
        if config.auto_migrate:
            db.upgrade(engine)
        else:
            db.require_current(engine)
        return cls(
            config,
            engine,
            db.session_factory(engine),
            ZonedClock(clock or SystemClock(), config.zone),
            db.session_factory(engine, reading=True),
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any error."""
        with db.write_lock(self.engine), self.sessions.begin() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[db.RawTransaction]:
        """:meth:`transaction` for the hot path's :class:`gateway.db.Prepared` statements."""
        with db.write_lock(self.engine), db.raw_transaction(self.engine, write=True) as raw:
            yield raw

    @contextmanager
    def read_snapshot(self) -> Iterator[db.RawTransaction]:
        """:meth:`reading` for the hot path's :class:`gateway.db.Prepared` statements."""
        with db.raw_transaction(self.engine, write=False) as raw:
            yield raw

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A consistent read that takes no write lock (rolled back at the end)."""
        with self.readers() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()
