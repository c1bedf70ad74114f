"""The web workers seal the log on the schedule by themselves: no daemon, no cron."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import select

from gateway.audit.checkpoint import CheckpointKeys
from gateway.audit.models import AuditCheckpoint
from gateway.config import Config
from gateway.runtime import Runtime
from tests import factories
from tests.server import GunicornServer

pytestmark = pytest.mark.slow


def test_gunicorn_workers_seal_when_a_checkpoint_is_due(sqlite_template, tmp_path):
    database = tmp_path / "gateway.db"
    database.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{database}"
    keys_dir = tmp_path / "keys"
    CheckpointKeys(keys_dir).init(datetime.now(UTC).isoformat())
    runtime = Runtime.open(Config(database_url=url, keys_dir=keys_dir, auto_migrate=False))
    with runtime.transaction() as session:
        for n in range(4):  # operator actions: entries waiting to be sealed
            factories.partner(session, runtime.clock, f"p{n}", with_nda=False)
    env = {"GATEWAY_DATABASE_URL": url, "GATEWAY_KEYS_DIR": str(keys_dir),
           "GATEWAY_CHECKPOINT_EVERY_ENTRIES": "3"}  # fmt: skip
    server = GunicornServer.start(env, tmp_path / "gunicorn.log", workers=2, threads=2)
    try:
        for _ in range(4):  # the sealer starts with a worker's first request
            requests.get(server.base_url + "/readyz", timeout=10)
        deadline = time.monotonic() + 20
        sealed = []
        while time.monotonic() < deadline and not sealed:
            time.sleep(0.5)
            with runtime.reading() as session:
                sealed = list(session.scalars(select(AuditCheckpoint.size)))
    finally:
        server.stop()
        runtime.close()
    assert sealed and sealed[0] >= 4
