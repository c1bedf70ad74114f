"""Two gateway nodes — two gunicorn instances, separate processes with their own workers —
on one PostgreSQL, under concurrent load: the log stays one chain, revocation is immediate
on both, a client assertion is accepted once across both, and checkpoints are not doubled."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from gateway.audit.checkpoint import CheckpointKeys
from gateway.audit.models import AuditCheckpoint, AuditEntry
from gateway.audit.sealing import Schedule, seal_if_due
from gateway.audit.service import verify_log
from gateway.clock import SystemClock
from gateway.config import Config
from gateway.oauth import clients
from gateway.oauth.keys import init_keys
from gateway.runtime import Runtime
from tests import factories
from tests.server import GunicornServer, free_port, rate_limit_store

pytestmark = pytest.mark.slow


class Nodes:
    def __init__(self, url: str, tmp_path) -> None:
        self.keys_dir = tmp_path / "keys"
        self.env = {"GATEWAY_DATABASE_URL": url, "GATEWAY_KEYS_DIR": str(self.keys_dir),
                    "GATEWAY_OPERATOR": "test-operator",
                    "GATEWAY_RATE_LIMIT_STORAGE": rate_limit_store(tmp_path),
                    "GATEWAY_RATE_LIMIT_PER_MINUTE": "1000000"}  # fmt: skip
        self.runtime = Runtime.open(Config(database_url=url, keys_dir=self.keys_dir,
                                           auto_migrate=False), SystemClock())  # fmt: skip
        self.clock = self.runtime.clock
        # One issuer for both nodes, as behind one load balancer.
        port = free_port()
        self.env["GATEWAY_ISSUER"] = self.issuer = f"http://127.0.0.1:{port}"
        init_keys(self.keys_dir, int(time.time()))
        self.key = ECKey.generate_key("P-256", private=True, parameters={"kid": "r1"})
        with self.runtime.transaction() as session:
            factories.partner(session, self.clock, "acme")
            for n in range(20):
                factories.customer(session, self.clock, f"C-{n}")
                factories.designation(session, self.clock, f"C-{n}", "acme")
            secret_client, self.secret = clients.add_client(
                session, self.clock, factories.OPERATOR, partner_id="acme",
                scopes="customers:contact", with_secret=True, sender_constraint="none",
            )  # fmt: skip
            key_client, _ = clients.add_client(
                session, self.clock, factories.OPERATOR, partner_id="acme",
                scopes="customers:contact",
                jwks_text=json.dumps({"keys": [self.key.as_dict(private=False)]}),
                sender_constraint="none",
            )  # fmt: skip
        self.secret_client, self.key_client = secret_client.client_id, key_client.client_id
        self.servers = [
            GunicornServer.start(
                self.env,
                tmp_path / f"node-{n}.log",
                workers=2,
                threads=4,
                port=port if n == 0 else None,
            )  # fmt: skip
            for n in range(2)
        ]

    def token(self, node: int) -> str:
        return requests.post(
            self.servers[node].base_url + "/oauth/token", data={"grant_type": "client_credentials"},
            auth=(self.secret_client, self.secret), timeout=30,
        ).json()["access_token"]  # fmt: skip

    def assertion(self) -> str:
        now = int(time.time())
        claims = {
            "iss": self.key_client, "sub": self.key_client, "aud": self.issuer,
            "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex,
        }  # fmt: skip
        return jwt.encode(
            {"alg": "ES256", "kid": "r1", "typ": "client-authentication+jwt"}, claims, self.key
        )

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.runtime.close()


@pytest.fixture
def nodes(postgres_url, tmp_path):
    started = Nodes(postgres_url, tmp_path)
    yield started
    started.stop()


def _hammer(nodes: Nodes, seconds: float, results: list, tokens: list[str],
            stop: threading.Event | None = None) -> None:  # fmt: skip
    """Call both nodes in turn for ``seconds``, or until ``stop`` (at most a minute)."""
    deadline = time.monotonic() + (60 if stop else seconds)
    n = 0
    with requests.Session() as http:
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            node = n % 2
            url = f"{nodes.servers[node].base_url}/v1/customers/C-{n % 20}?purpose=inquiry_response"
            began = time.monotonic()
            status = http.get(url, headers={"Authorization": f"Bearer {tokens[node]}"},
                              timeout=30).status_code  # fmt: skip
            results.append((began, node, status))
            n += 1


def test_the_log_stays_one_chain_across_two_nodes_under_load(nodes):
    tokens = [nodes.token(0), nodes.token(1)]
    results: list = []
    callers = [threading.Thread(target=_hammer, args=(nodes, 3, results, tokens))
               for _ in range(8)]  # fmt: skip
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join(60)
    assert {node for _, node, status in results if status == 200} == {0, 1}
    with nodes.runtime.reading() as session:
        seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
        reads = session.scalar(select(func.count()).select_from(AuditEntry)
                               .where(AuditEntry.action == "customers.read"))  # fmt: skip
    assert seqs == list(range(1, len(seqs) + 1))
    assert reads == len(results)  # every request left exactly one entry
    report = verify_log(nodes.runtime.engine, {})
    assert report.first_break is None and report.entries == len(seqs)


def test_revocation_is_immediate_on_both_nodes(nodes):
    tokens = [nodes.token(0), nodes.token(1)]
    results: list = []
    stop = threading.Event()
    callers = [threading.Thread(target=_hammer, args=(nodes, 0, results, tokens, stop))
               for _ in range(6)]  # fmt: skip
    for thread in callers:
        thread.start()
    time.sleep(1.5)
    revoke = subprocess.run(
        [sys.executable, "-m", "gateway", "partners", "revoke", "acme", "--reason", "leak"],
        env={"PATH": "/usr/bin:/bin", **nodes.env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    returned = time.monotonic()
    time.sleep(1.5)
    stop.set()
    for thread in callers:
        thread.join(60)
    assert revoke.returncode == 0, revoke.stderr
    before = [status for began, _, status in results if began < returned]
    after = [(node, status) for began, node, status in results if began > returned]
    assert before.count(200) > 10
    assert {node for node, _ in after} == {0, 1}
    assert {status for _, status in after} == {401}


def test_an_assertion_is_accepted_once_across_both_nodes(nodes):
    outcomes = []
    for _ in range(10):
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": nodes.assertion(),
        }
        start = threading.Barrier(2)
        statuses: list[int] = []

        def send(node: int, form=form, start=start, statuses=statuses) -> None:
            start.wait(10)
            statuses.append(requests.post(nodes.servers[node].base_url + "/oauth/token",
                                          data=form, timeout=30).status_code)  # fmt: skip

        senders = [threading.Thread(target=send, args=(n,)) for n in (0, 1)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join(60)
        outcomes.append(sorted(statuses))
    assert outcomes == [[200, 400]] * 10


def _seal_repeatedly(url: str, keys_dir: str, ready, stop) -> None:
    """A node's sealer: seal whenever due, until told to stop (then once more)."""
    runtime = Runtime.open(Config(database_url=url, auto_migrate=False), SystemClock())
    keys = CheckpointKeys(Path(keys_dir))
    ready.wait(60)
    while True:
        stopping = stop.is_set()
        seal_if_due(runtime, keys, Schedule(every_entries=5, every_seconds=0))
        if stopping:
            break
        time.sleep(0.02)
    runtime.close()


def test_checkpoints_are_not_doubled_when_both_nodes_find_one_due(nodes):
    CheckpointKeys(nodes.keys_dir).init(datetime.now(UTC).isoformat())
    tokens = [nodes.token(0), nodes.token(1)]
    results: list = []
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Barrier(3), context.Event()
    sealers = [context.Process(target=_seal_repeatedly,
                               args=(nodes.env["GATEWAY_DATABASE_URL"], str(nodes.keys_dir),
                                     ready, stop))
               for _ in range(2)]  # fmt: skip
    for process in sealers:
        process.start()
    ready.wait(60)  # both sealers are running before the load starts
    callers = [threading.Thread(target=_hammer, args=(nodes, 3, results, tokens))
               for _ in range(4)]  # fmt: skip
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join(60)
    stop.set()
    for process in sealers:
        process.join(120)
    assert [p.exitcode for p in sealers] == [0, 0]
    with nodes.runtime.reading() as session:
        sizes = list(session.scalars(select(AuditCheckpoint.size).order_by(AuditCheckpoint.size)))
        sealing_entries = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "audit.checkpoint")
        )
    assert len(sizes) >= 3
    assert len(sizes) == len(set(sizes)) == sealing_entries
    trusted = CheckpointKeys(nodes.keys_dir).trusted()
    report = verify_log(nodes.runtime.engine, trusted)
    assert report.intact and report.checkpoints == len(sizes)
