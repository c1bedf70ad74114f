"""An app with small rate limits, a reseller with a bearer client and a DPoP client, and a
staff account, to knock on every limit."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from flask import g, jsonify

from gateway import create_app, shutdown
from gateway.audit.spine import Event
from gateway.clock import FixedClock
from gateway.console.service import add_staff
from gateway.oauth.keys import init_keys
from gateway.oauth.resource import require_token
from tests import factories

ISSUER = "https://gateway.test"
PROTECTED = "/test/protected"
PASSWORD = "correct horse battery staple"
LIMITS = {
    "rate_limit_per_minute": 3,
    "rate_limit_tokens_per_minute": 2,
    "rate_limit_failures_per_minute": 3,
}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.fromtimestamp(int(time.time()), UTC))


def make_app(config, clock, **settings):
    init_keys(config.keys_dir, int(time.time()) - 5)
    application = create_app(replace(config, issuer=ISSUER, **(LIMITS | settings)), clock=clock)

    @require_token("customers.read")
    def protected():
        access = g.access
        access.log(Event(action="customers.read", actor=access.actor, subjects=access.subjects))
        return jsonify(ok=True)

    application.add_url_rule(PROTECTED, "protected", protected)
    return application


@pytest.fixture
def app(config, clock):
    application = make_app(config, clock)
    yield application
    shutdown(application)


@pytest.fixture
def reseller(app, clock):
    """A bearer client (id, secret) of reseller acme, and a staff account."""
    runtime = app.extensions["gateway"]
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")
        factories.partner(session, clock, "other")
        client = factories.client(session, clock, "acme")
        add_staff(
            session, clock, factories.OPERATOR, name="desk", role="privacy_desk", password=PASSWORD
        )
    return client
