"""Limits hold across every worker of a node by default (a store the workers share), and
across nodes with a shared Redis."""

from __future__ import annotations

import base64
import multiprocessing
import time

import pytest
import requests

from gateway import shutdown
from gateway.oauth.keys import init_keys
from gateway.ratelimit.storage import NodeStorage
from tests import factories
from tests.ratelimit.conftest import make_app
from tests.server import GunicornServer

TOKEN = {"grant_type": "client_credentials"}


def _bad_basic(client_id: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{'x' * 43}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.mark.slow
def test_the_default_store_holds_a_limit_across_the_workers_of_a_node(
    runtime, clock, gateway_env, tmp_path
):
    init_keys(runtime.config.keys_dir, int(time.time()))
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")
        client_id, _ = factories.client(session, clock, "acme")
    env = {k: v for k, v in gateway_env.items() if k != "GATEWAY_RATE_LIMIT_STORAGE"}
    env["GATEWAY_RATE_LIMIT_FAILURES_PER_MINUTE"] = "6"
    server = GunicornServer.start(env, tmp_path / "gunicorn.log", workers=3, threads=2)
    try:
        statuses = []
        for _ in range(15):  # a new connection each time: the kernel spreads them over workers
            statuses.append(
                requests.post(
                    server.base_url + "/oauth/token",
                    data=TOKEN,
                    headers=_bad_basic(client_id) | {"Connection": "close"},
                    timeout=30,
                ).status_code
            )
    finally:
        server.stop()
    assert statuses == [401] * 6 + [429] * 9


def test_a_shared_redis_holds_a_limit_across_nodes(config, clock, redis_server):
    from dataclasses import replace

    shared = replace(config, rate_limit_storage=redis_server.url)
    nodes = [make_app(shared, clock), make_app(shared, clock)]
    nodes[0].extensions["rate_limits"].storage.reset()  # one server for the whole session
    try:
        runtime = nodes[0].extensions["gateway"]
        with runtime.transaction() as session:
            factories.partner(session, clock, "acme")
            client_id, _ = factories.client(session, clock, "acme")
        statuses = [
            nodes[n % 2]
            .test_client()
            .post("/oauth/token", data=TOKEN, headers=_bad_basic(client_id))
            .status_code
            for n in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]  # three failures, counted on both nodes
    finally:
        for node in nodes:
            shutdown(node)


def _increment(path: str, times: int) -> None:
    storage = NodeStorage(f"gateway+node:///{path}")
    for _ in range(times):
        storage.incr("shared", 60)


def test_the_node_store_counts_exactly_under_concurrent_processes(tmp_path):
    path = str(tmp_path / "counters.sqlite3")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_increment, args=(path, 150)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    storage = NodeStorage(f"gateway+node:///{path}")
    assert storage.get("shared") == 600
    assert (tmp_path / "counters.sqlite3").stat().st_mode & 0o777 == 0o600


def test_the_node_store_forgets_a_window_once_it_expires(tmp_path):
    storage = NodeStorage(f"gateway+node:///{tmp_path}/c.sqlite3")
    assert storage.incr("k", 1) == 1 and storage.incr("k", 1) == 2
    assert storage.get_expiry("k") > time.time()
    time.sleep(1.1)
    assert storage.get("k") == 0
    assert storage.incr("k", 1) == 1  # a new window
    storage.clear("k")
    assert storage.get("k") == 0 and storage.check()


def test_a_malformed_store_is_refused_at_start(config, clock):
    from dataclasses import replace

    from gateway.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="GATEWAY_RATE_LIMIT_STORAGE"):
        make_app(replace(config, rate_limit_storage="nosuchstore://x"), clock)
