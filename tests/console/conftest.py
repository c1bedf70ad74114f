"""Fixtures for the console: the app on each database, staff accounts, signed-in clients."""

from __future__ import annotations

import re

import pytest

from gateway import create_app, shutdown
from gateway.console import service
from tests import factories

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(config, clock):
    application = create_app(config, clock=clock)
    yield application
    shutdown(application)


@pytest.fixture
def runtime_of_app(app):
    return app.extensions["gateway"]


@pytest.fixture
def staff(runtime_of_app, clock):
    """Make a staff account: ``staff("alice", "privacy_desk")``."""

    def make(name: str, role: str, password: str = PASSWORD):
        with runtime_of_app.transaction() as session:
            service.add_staff(session, clock, factories.OPERATOR, name=name, role=role,
                              password=password)  # fmt: skip
        return name

    return make


def csrf_of(response) -> str:
    found = _CSRF.search(response.get_data(as_text=True))
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client, name: str, password: str = PASSWORD):
    token = csrf_of(client.get("/console/login"))
    return client.post("/console/login", data={"name": name, "password": password,
                                               "csrf_token": token})  # fmt: skip


@pytest.fixture
def desk(app, staff):
    staff("desk", "privacy_desk")
    client = app.test_client()
    assert sign_in(client, "desk").status_code == 302
    return client


@pytest.fixture
def operator(app, staff):
    staff("ops", "operator")
    client = app.test_client()
    assert sign_in(client, "ops").status_code == 302
    return client


def entries(app, action: str | None = None):
    from sqlalchemy import select

    from gateway.audit.models import AuditEntry

    query = select(AuditEntry).order_by(AuditEntry.seq)
    if action:
        query = query.where(AuditEntry.action == action)
    with app.extensions["gateway"].transaction() as session:
        rows = session.scalars(query).all()
        session.expunge_all()
        return rows
