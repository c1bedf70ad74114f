"""Shared fixtures: one parametrised database fixture runs every storage test on SQLite and on
a real PostgreSQL server that the suite starts itself.

Set GATEWAY_REQUIRE_POSTGRES=1 (CI does) to turn a PostgreSQL that cannot start into a
failure instead of a skip.

A test or module marked ``one_database`` checks logic that storage plays no part in (a proof's
claims, an error's shape, a command's output): it runs on SQLite only, keeping the suite fast.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from gateway import db
from gateway.clock import FixedClock
from gateway.config import Config
from gateway.runtime import Runtime
from tests.postgres import PostgresServer, Unavailable
from tests.redis import RedisServer
from tests.redis import Unavailable as RedisUnavailable
from tests.server import rate_limit_store

START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
_TEMPLATE = "gateway_template"
_counter = itertools.count()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the PostgreSQL runs of tests marked ``one_database``."""
    kept, left_out = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        one = item.get_closest_marker("one_database") is not None
        (left_out if one and params.get("database_url") == "postgresql" else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer.start()
    except Unavailable as why:
        if os.environ.get("GATEWAY_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required here but could not start: {why}")
        pytest.skip(f"PostgreSQL tests skipped: {why}")
    try:
        admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {_TEMPLATE}"))
        admin.dispose()
        engine = db.create_gateway_engine(server.url(_TEMPLATE))
        db.upgrade(engine)
        engine.dispose()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = db.create_gateway_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()  # the last connection to close checkpoints and removes the WAL file
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return _fresh_postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, migrated, empty PostgreSQL database (for what only PostgreSQL serves: many
    nodes on one database)."""
    return _fresh_postgres_database(postgres_server)


def _fresh_postgres_database(server: PostgresServer) -> str:
    name = f"test_{os.getpid()}_{next(_counter)}"
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}"))
    admin.dispose()
    return server.url(name)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis server, for the rate limits shared across nodes. GATEWAY_REQUIRE_REDIS=1 (CI)
    turns a Redis that cannot start into a failure instead of a skip."""
    try:
        server = RedisServer.start()
    except RedisUnavailable as why:
        if os.environ.get("GATEWAY_REQUIRE_REDIS"):
            pytest.fail(f"Redis is required here but could not start: {why}")
        pytest.skip(f"Redis tests skipped: {why}")
    yield server
    server.stop()


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Config:
    return Config(database_url=database_url, keys_dir=tmp_path / "keys", auto_migrate=False,
                  rate_limit_storage=rate_limit_store(tmp_path))  # fmt: skip


@pytest.fixture
def runtime(config: Config, clock: FixedClock) -> Iterator[Runtime]:
    opened = Runtime.open(config, clock)
    yield opened
    opened.close()


@pytest.fixture
def gateway_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment an operator's shell would have for this test's database."""
    return {
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_KEYS_DIR": str(tmp_path / "keys"),
        "GATEWAY_OPERATOR": "test-operator",
        "GATEWAY_RATE_LIMIT_STORAGE": rate_limit_store(tmp_path),
    }


@pytest.fixture
def cli(gateway_env: dict[str, str]):
    """Run ``gateway …`` in-process, against this test's database."""
    from gateway.cli import main

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), env=gateway_env, catch_exceptions=False)

    return invoke
