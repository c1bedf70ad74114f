"""Stop of use (clause 22, paragraph 6) and its undo, through the CLI."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.customers.models import Customer
from gateway.sharing.service import customer_for_partner, customers_for_partner
from tests import factories


@pytest.fixture
def designated(runtime, clock):
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")
        for customer_id in ("C-1", "C-2"):
            factories.customer(session, clock, customer_id)
            factories.designation(session, clock, customer_id, "acme")
    return runtime


def _visible(runtime, clock) -> list[str]:
    from gateway.clock import today

    with runtime.transaction() as session:
        records = customers_for_partner(session, "acme", today(clock), now=clock.now()).records
        return [r.customer_id for r in records]


def _last(runtime) -> AuditEntry:
    with runtime.transaction() as session:
        return session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()


def test_stop_use_withholds_the_customer_and_resume_restores_it(cli, designated, clock):
    assert _visible(designated, clock) == ["C-1", "C-2"]

    stopped = cli("customers", "stop-use", "C-1", "--json")
    assert stopped.exit_code == 0, stopped.stderr
    assert json.loads(stopped.stdout)["customer_id"] == "C-1"
    assert _visible(designated, clock) == ["C-2"]
    entry = _last(designated)
    assert entry.action == "customers.stop_use"
    assert json.loads(entry.subjects) == [["customer", "C-1"]]
    with designated.transaction() as session:
        seen = customer_for_partner(session, "acme", "C-1", clock.now().date())
        assert (seen.designated, seen.withheld) == (True, True)

    resumed = cli("customers", "resume-use", "C-1")
    assert resumed.exit_code == 0, resumed.stderr
    assert "resumed" in resumed.stdout
    assert sorted(_visible(designated, clock)) == ["C-1", "C-2"]
    assert _last(designated).action == "customers.resume_use"


def test_stop_use_withholds_from_every_reseller_at_once(cli, designated, clock):
    with designated.transaction() as session:
        factories.partner(session, clock, "beta")
        factories.designation(session, clock, "C-1", "beta")
    cli("customers", "stop-use", "C-1")
    with designated.transaction() as session:
        for partner in ("acme", "beta"):
            assert customer_for_partner(session, partner, "C-1", clock.now().date()).withheld
            records = customers_for_partner(session, partner, clock.now().date(),
                                                now=clock.now()).records
            assert "C-1" not in [r.customer_id for r in records]


def test_resume_after_a_contract_ended_still_withholds(cli, designated, clock):
    with designated.transaction() as session:
        factories.customer(session, clock, "C-1", contract={"usage_status": "terminated"})
    cli("customers", "stop-use", "C-1")
    resumed = cli("customers", "resume-use", "C-1")
    assert "still withheld" in resumed.stdout
    assert _visible(designated, clock) == ["C-2"]


HOSTILE = {
    "stop unknown customer": ("customers", "stop-use", "C-404"),
    "stop twice": ("customers", "stop-use", "C-2"),
    "resume a customer not stopped": ("customers", "resume-use", "C-1"),
    "resume unknown customer": ("customers", "resume-use", "C-404"),
}


@pytest.mark.parametrize("args", HOSTILE.values(), ids=HOSTILE.keys())
def test_bad_stop_use_is_one_line_and_changes_nothing(cli, designated, args):
    cli("customers", "stop-use", "C-2")
    with designated.transaction() as session:
        before = list(session.execute(select(Customer.customer_id, Customer.stop_use)))
    count = _last(designated).seq

    result = cli(*args)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    with designated.transaction() as session:
        assert list(session.execute(select(Customer.customer_id, Customer.stop_use))) == before
    assert _last(designated).seq == count
