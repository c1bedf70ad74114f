"""Sandbox traffic and the anomaly rules: a sandbox reseller's test traffic raises no flag and
is counted apart, while the same traffic from a normal reseller is flagged — and the reports
still count it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from gateway.audit.anomalies import find_anomalies, sandbox_traffic
from gateway.audit.reading import snapshot
from gateway.audit.reports import breach_report, customer_report
from gateway.audit.spine import Actor, ActorKind, Event, Outcome, Subject, record
from gateway.audit.window import Window
from gateway.partners import service as partners
from gateway.removals import service as removals
from gateway.removals.models import STOP_USE
from tests import factories
from tests.audit.seeding import at, request

WINDOW = ("2026-04-01", "2026-04-30")


def _reseller(session, clock, partner_id: str, sandbox: bool) -> None:
    partners.add_partner(session, clock, factories.OPERATOR, partner_id=partner_id,
                         name=f"{partner_id} K.K.", sandbox=sandbox)  # fmt: skip


def _integration_tests(session, clock, partner: str) -> None:
    """What a reseller's integration tests look like: a first full load, deliberate refusals
    in a burst, look-ups at 05:00, and asking again for a customer who stopped use."""
    request(session, clock, partner=partner, action="customers.list",
            customers=tuple(f"SANDBOX-{n:06d}" for n in range(1, 301)),
            when="2026-04-06T20:00:00Z")  # fmt: skip  # Tuesday 05:00 JST
    for minute in range(6):
        request(session, clock, partner=partner, customers=(f"NOPE-{minute}",),
                rule="customer_designated", when=f"2026-04-06T20:1{minute}:00Z")  # fmt: skip
    for minute in range(3):
        request(session, clock, partner=partner, customers=("SANDBOX-000007",),
                when=f"2026-04-06T20:3{minute}:00Z")  # fmt: skip
    request(session, clock, partner=partner, customers=("SANDBOX-000009",),
            rule="customer_in_use", when="2026-04-06T20:40:00Z")  # fmt: skip


def _flags(runtime, partner: str) -> list[str]:
    with snapshot(runtime.engine) as connection:
        flags = find_anomalies(connection, Window.parse(*WINDOW))
    return sorted(f.rule for f in flags if f.partner == partner)


@pytest.mark.parametrize("sandbox, expected", [
    (True, []),
    (False, ["denials", "first_load", "off_hours", "withheld"]),
])  # fmt: skip
def test_integration_tests_flag_a_normal_reseller_but_not_a_sandbox_one(
    runtime, clock, sandbox, expected
):
    with runtime.transaction() as session:
        _reseller(session, clock, "tester", sandbox)
        _integration_tests(session, clock, "tester")
    assert _flags(runtime, "tester") == expected


def test_sandbox_traffic_is_counted_apart(runtime, clock):
    with runtime.transaction() as session:
        _reseller(session, clock, "sbx", True)
        _reseller(session, clock, "acme", False)
        _integration_tests(session, clock, "sbx")
        _integration_tests(session, clock, "acme")
    with snapshot(runtime.engine) as connection:
        (line,) = sandbox_traffic(connection, Window.parse(*WINDOW))
    assert line.as_dict() == {
        "partner": "sbx", "first": "2026-04-06T20:00:00.000000Z",
        "last": "2026-04-06T20:40:00.000000Z", "requests": 11, "denied": 7,
        "customers_total": 306,
    }  # fmt: skip


def test_a_sandbox_clients_entries_without_a_partner_subject_are_sandbox_traffic(runtime, clock):
    """A refused token request may name the client only: it is still its reseller's."""
    clients = {}
    with runtime.transaction() as session:
        for partner, sandbox in (("sbx", True), ("acme", False)):
            _reseller(session, clock, partner, sandbox)
            client_id, _ = clients[partner] = factories.client(session, clock, partner)
            clock.advance(at("2026-04-02T01:00:00Z") - clock.now())
            for _ in range(6):
                clock.advance(timedelta(seconds=30))
                refused = Event(action="token.issue", actor=Actor(ActorKind.CLIENT, client_id),
                                outcome=Outcome.DENIED, rule="client_authenticated",
                                subjects=(Subject("client", client_id),))  # fmt: skip
                record(session, refused, clock=clock)
    with snapshot(runtime.engine) as connection:
        flags = find_anomalies(connection, Window.parse(*WINDOW))
        (line,) = sandbox_traffic(connection, Window.parse(*WINDOW))
    assert [(f.rule, f.client) for f in flags] == [("denials", clients["acme"][0])]
    assert (line.partner, line.requests, line.denied) == ("sbx", 6, 6)


def test_a_sandbox_resellers_overdue_removals_are_not_flagged(runtime, clock):
    with runtime.transaction() as session:
        for partner, sandbox in (("sbx", True), ("acme", False)):
            _reseller(session, clock, partner, sandbox)
            request(session, clock, partner=partner, customers=(f"{partner}-C-1",),
                    when="2026-04-01T01:00:00Z")  # fmt: skip
            removals.notify(session, clock, customer_id=f"{partner}-C-1", reason=STOP_USE)
    with snapshot(runtime.engine) as connection:
        flags = find_anomalies(connection, Window.parse(*WINDOW), today=date(2026, 4, 30))
    assert [(f.rule, f.partner) for f in flags if f.rule == "removal_overdue"] == [
        ("removal_overdue", "acme")
    ]


def test_the_reports_still_count_sandbox_accesses(runtime, clock):
    with runtime.transaction() as session:
        _reseller(session, clock, "sbx", True)
        _integration_tests(session, clock, "sbx")
    with snapshot(runtime.engine) as connection:
        about = customer_report(connection, "SANDBOX-000007")
        leak = breach_report(connection, "sbx", Window.parse(*WINDOW))
    assert [r["partner"] for r in about["recipients"]] == ["sbx"]
    assert about["recipients"][0]["count"] == 4  # the full load and three look-ups
    assert leak["totals"]["customers_affected"] == 300


def test_the_desks_anomaly_command_shows_sandbox_traffic_apart(runtime, clock, cli):
    with runtime.transaction() as session:
        _reseller(session, clock, "sbx", True)
        _integration_tests(session, clock, "sbx")
    result = cli("audit", "anomalies", "--since", WINDOW[0], "--until", WINDOW[1])
    assert result.exit_code == 0, result.output
    assert "sandbox traffic of sbx: 11 requests (7 refused), 306 customers; not flagged" in (
        result.output
    )
    assert "no flags" in result.output
    as_json = cli("audit", "anomalies", "--since", WINDOW[0], "--until", WINDOW[1], "--json")
    assert '"sandbox_traffic"' in as_json.output and '"flags": []' in as_json.output
