"""A sandbox reseller with generated customers, and a gateway to sync them through."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway import create_app, shutdown
from gateway.clock import FixedClock, today
from gateway.oauth.keys import init_keys
from gateway.partners import service as partners
from gateway.sandbox import service as sandbox
from tests import factories

SANDBOX = "sbx"
POPULATION = 40  # enough for every kind of change, small enough to stay fast


@pytest.fixture
def clock() -> FixedClock:
    # Now, fixed: tokens are checked against the time their keys were made.
    return FixedClock(datetime.fromtimestamp(int(time.time()), UTC))


def sandbox_partner(session, clock, partner_id: str = SANDBOX) -> None:
    """A sandbox reseller with an NDA in force."""
    partners.add_partner(session, clock, factories.OPERATOR, partner_id=partner_id,
                         name="Sandbox K.K.", sandbox=True)  # fmt: skip
    day = today(clock)
    partners.record_nda(session, clock, factories.OPERATOR, partner_id=partner_id,
                        reference=f"NDA-{partner_id}", signed_on=day - timedelta(days=30),
                        expires_on=day + timedelta(days=365))  # fmt: skip


@pytest.fixture
def populated(runtime, clock):
    """The sandbox reseller ``sbx`` and :data:`POPULATION` generated customers designating it."""
    with runtime.transaction() as session:
        sandbox_partner(session, clock)
        sandbox.seed_customers(session, clock, factories.OPERATOR, partner_id=SANDBOX,
                               count=POPULATION)  # fmt: skip
    return runtime


@pytest.fixture
def app(config, clock):
    init_keys(config.keys_dir, int(time.time()) - 5)
    application = create_app(replace(config, issuer="https://gateway.test",
                                     rate_limit_per_minute=100_000), clock=clock)  # fmt: skip
    yield application
    shutdown(application)


def sync_all(app, clock, partner_id: str = SANDBOX) -> list[str]:
    """A client of ``partner_id`` syncs every customer it sees, page by page, as a reseller's
    first load does; returns the customer ids received."""
    runtime = app.extensions["gateway"]
    with runtime.transaction() as session:
        client_id, secret = factories.client(
            session, clock, partner_id, scopes="customers:contact customers:contract"
        )
    http = app.test_client()
    token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                      auth=(client_id, secret)).json["access_token"]  # fmt: skip
    received, cursor = [], None
    while True:
        query = "/v1/customers?purpose=service_contact&limit=25" + (
            f"&cursor={cursor}" if cursor else ""
        )
        page = http.get(query, headers={"Authorization": f"Bearer {token}"})
        assert page.status_code == 200, page.get_data(as_text=True)
        received += [c["customer_id"] for c in page.json["customers"]]
        cursor = page.json["next_cursor"]
        if not cursor:
            return received
