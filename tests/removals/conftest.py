"""A gateway with resellers who received some customers and not others, for removal events."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gateway import create_app, shutdown
from gateway.clock import FixedClock
from gateway.oauth.keys import init_keys
from tests import factories

ISSUER = "https://gateway.test"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.fromtimestamp(int(time.time()), UTC))


def make_app(config, clock):
    init_keys(config.keys_dir, int(time.time()) - 5)
    return create_app(replace(config, issuer=ISSUER, rate_limit_per_minute=100_000), clock=clock)


@pytest.fixture
def app(config, clock):
    application = make_app(config, clock)
    yield application
    shutdown(application)


@pytest.fixture
def world(app, clock):
    """acme and bolt, each with a bearer client; C-1 designated by both, C-2 by acme only,
    C-3 by both. acme reads C-1 and C-3, bolt reads C-3: so bolt never received C-1."""
    http = app.test_client()
    runtime = app.extensions["gateway"]
    tokens = {}
    with runtime.transaction() as session:
        for partner in ("acme", "bolt"):
            factories.partner(session, clock, partner)
        for customer in ("C-1", "C-2", "C-3"):
            factories.customer(session, clock, customer)
        for customer, partner in (("C-1", "acme"), ("C-1", "bolt"), ("C-2", "acme"),
                                  ("C-3", "acme"), ("C-3", "bolt")):  # fmt: skip
            factories.designation(session, clock, customer, partner)
        clients = {p: factories.client(session, clock, p) for p in ("acme", "bolt")}
    for partner, (client_id, secret) in clients.items():
        tokens[partner] = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                    auth=(client_id, secret)).json["access_token"]  # fmt: skip
    for partner, customer in (("acme", "C-1"), ("acme", "C-3"), ("bolt", "C-3")):
        read = http.get(f"/v1/customers/{customer}?purpose=inquiry_response",
                        headers={"Authorization": f"Bearer {tokens[partner]}"})  # fmt: skip
        assert read.status_code == 200, read.get_data(as_text=True)
    return {"http": http, "tokens": tokens, "clients": clients, "runtime": runtime}
