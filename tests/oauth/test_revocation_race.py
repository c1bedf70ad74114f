"""Immediate revocation: while several threads call the partner API through a multi-worker
gunicorn, the operator revokes the reseller with the real CLI; no request begun after the
command returned succeeds — on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import requests

from gateway.oauth import clients
from gateway.oauth.keys import init_keys
from tests import factories
from tests.server import GunicornServer

pytestmark = pytest.mark.slow

CALLERS = 6


def test_no_request_begun_after_revoke_returned_succeeds(runtime, clock, gateway_env, tmp_path):
    init_keys(runtime.config.keys_dir, int(time.time()))
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")
        factories.customer(session, clock, "C-1")
        factories.designation(session, clock, "C-1", "acme")
        client, secret = clients.add_client(
            session, clock, factories.OPERATOR, partner_id="acme",
            scopes="customers:contact", with_secret=True, sender_constraint="none",
        )  # fmt: skip
    server = GunicornServer.start(gateway_env, tmp_path / "gunicorn.log", workers=2, threads=4)
    try:
        token = requests.post(
            server.base_url + "/oauth/token", data={"grant_type": "client_credentials"},
            auth=(client.client_id, secret), timeout=30,
        ).json()["access_token"]  # fmt: skip
        url = server.base_url + "/v1/customers/C-1?purpose=inquiry_response"
        results: list[tuple[float, int]] = []
        stop = threading.Event()

        def call() -> None:
            with requests.Session() as http:
                http.headers["Authorization"] = f"Bearer {token}"
                while not stop.is_set():
                    began = time.monotonic()
                    status = http.get(url, timeout=30).status_code
                    results.append((began, status))

        callers = [threading.Thread(target=call) for _ in range(CALLERS)]
        for thread in callers:
            thread.start()
        time.sleep(1.5)
        revoke = subprocess.run(
            [sys.executable, "-m", "gateway", "partners", "revoke", "acme", "--reason", "leak"],
            env={"PATH": "/usr/bin:/bin", **gateway_env}, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        returned = time.monotonic()
        time.sleep(1.5)
        stop.set()
        for thread in callers:
            thread.join(60)
    finally:
        server.stop()

    assert revoke.returncode == 0, revoke.stderr
    before = [status for began, status in results if began < returned]
    after = [status for began, status in results if began > returned]
    assert before.count(200) > 10, "the callers never got through before the revocation"
    assert after, "no request began after the revocation returned"
    assert set(after) == {401}, f"after revocation: {sorted(set(after))}"
