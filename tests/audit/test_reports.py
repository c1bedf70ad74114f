"""The privacy desk's reports are exact on a seeded log, read by index, and are logged."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from gateway.audit import reports
from gateway.audit.models import AuditEntry
from gateway.audit.reading import snapshot
from gateway.audit.spine import Event, Subject, record
from gateway.audit.window import Window
from tests.audit.seeding import request
from tests.factories import OPERATOR

CONTRACT = ("customer_id", "updated_at", "contract", "fees")
INQUIRY = ("customer_id", "updated_at", "name", "inquiries")


@pytest.fixture
def gateway_env(gateway_env):
    """The seeded log's instants sit on UTC day boundaries: these tests read days as UTC
    (the company's calendar is Asia/Tokyo by default; see the test of it below)."""
    return gateway_env | {"GATEWAY_TIMEZONE": "UTC"}


@pytest.fixture
def seeded(runtime, clock):
    with runtime.transaction() as session:
        # seq 1: the last microsecond before April, outside the April window
        request(session, clock, customers=("C-1",), when="2026-03-31T23:59:59.999999Z")
        # seq 2: the first microsecond of April, inside
        request(session, clock, action="customers.list", customers=("C-1", "C-2"),
                purpose="service_contact", when="2026-04-01T00:00:00Z")  # fmt: skip
        # seq 3: another reseller
        request(session, clock, partner="bolt", customers=("C-1",), items=CONTRACT,
                purpose="service_contact", when="2026-04-15T12:00:00Z")  # fmt: skip
        # seq 4: a refusal
        request(session, clock, customers=("C-1",), rule="customer_in_use",
                when="2026-04-20T10:00:00Z")  # fmt: skip
        # seq 5: an operator event about the customer: not a disclosure
        stop_use = Event("customers.stop_use", OPERATOR, subjects=(Subject("customer", "C-1"),))
        record(session, stop_use, clock=clock)
        # seq 6: the last microsecond of April, inside
        request(session, clock, customers=("C-1",), items=INQUIRY,
                when="2026-04-30T23:59:59.999999Z")  # fmt: skip
        # seq 7: the first microsecond of May, outside
        request(session, clock, customers=("C-3",), when="2026-05-01T00:00:00Z")
    return runtime


def test_customer_report_lists_every_disclosure_and_refusal(cli, seeded):
    result = cli("audit", "report", "customer", "C-1", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [(d["seq"], d["partner"], d["action"], d["purpose"]) for d in body["disclosures"]] == [
        (1, "acme", "customers.read", "inquiry_response"),
        (2, "acme", "customers.list", "service_contact"),
        (3, "bolt", "customers.read", "service_contact"),
        (6, "acme", "customers.read", "inquiry_response"),
    ]
    first = body["disclosures"][0]
    assert first == {
        "seq": 1, "at": "2026-03-31T23:59:59.999999Z", "partner": "acme", "client": "acme-client",
        "action": "customers.read",
        "items": ["customer_id", "email", "name", "phone", "updated_at"],
        "purpose": "inquiry_response", "allowlist_version": "2022-04-01", "request_id": None,
    }  # fmt: skip
    assert [(r["seq"], r["rule"]) for r in body["refusals"]] == [(4, "customer_in_use")]
    assert body["recipients"] == [
        {"partner": "acme", "count": 3, "first": "2026-03-31T23:59:59.999999Z",
         "last": "2026-04-30T23:59:59.999999Z",
         "items": ["customer_id", "email", "inquiries", "name", "phone", "updated_at"],
         "purposes": ["inquiry_response", "service_contact"]},
        {"partner": "bolt", "count": 1, "first": "2026-04-15T12:00:00.000000Z",
         "last": "2026-04-15T12:00:00.000000Z",
         "items": ["contract", "customer_id", "fees", "updated_at"],
         "purposes": ["service_contact"]},
    ]  # fmt: skip


def test_customer_report_prints_a_table(cli, seeded):
    result = cli("audit", "report", "customer", "C-1")
    assert result.exit_code == 0
    assert "customer C-1: 4 disclosures, 1 refusals" in result.stdout
    assert "customer_in_use" in result.stdout


def test_a_customer_never_disclosed_says_since_when_nothing_was_recorded(cli, seeded, clock):
    from tests import factories

    with seeded.transaction() as session:
        factories.customer(session, clock, "C-QUIET")
    body = json.loads(cli("audit", "report", "customer", "C-QUIET", "--json").stdout)
    assert (body["disclosures"], body["refusals"], body["recipients"]) == ([], [], [])
    assert body["log_since"] == "2026-03-31T23:59:59.999999Z"
    text_report = cli("audit", "report", "customer", "C-QUIET").stdout
    assert "no disclosures recorded since 2026-03-31T23:59:59.999999Z" in text_report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("report", "customer", "C-404"), "no customer 'C-404' is known to the gateway"),
        (("report", "customer", "c-1"), "did you mean C-1?"),
        (("report", "customer", "Ｃ-1"), "did you mean C-1?"),
        (
            ("report", "breach", "ACME", "--since", "2026-04-01", "--until", "2026-04-30"),
            "did you mean acme?",
        ),
        (
            ("report", "breach", "nobody", "--since", "2026-04-01", "--until", "2026-04-30"),
            "no reseller 'nobody' is known to the gateway",
        ),
        (("export", "--customer", "c-1"), "did you mean C-1?"),
        (("export", "--partner", "Bolt"), "did you mean bolt?"),
    ],
)
def test_an_unknown_id_is_refused_with_near_matches_never_a_clean_zero(cli, seeded, clock, args,
                                                                       message):  # fmt: skip
    from tests import factories

    with seeded.transaction() as session:
        factories.customer(session, clock, "C-1")  # in the store as well as in the log
        before = session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
    result = cli("audit", *args)
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    with seeded.transaction() as session:  # refused: nothing logged, nothing read
        after = session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
    assert after == before


def test_a_reseller_typed_by_its_company_name_is_suggested_by_id(cli, runtime, clock):
    from tests import factories

    with runtime.transaction() as session:
        factories.partner(session, clock, "acme", name="Acme Sales K.K.")
    result = cli("audit", "report", "breach", "Acme Sales", "--since", "2026-04-01",
                 "--until", "2026-04-30")  # fmt: skip
    assert result.exit_code == 1 and "did you mean acme?" in result.output


def test_a_customer_found_by_their_own_data(runtime, clock):
    from gateway.audit.subjects import find_customers
    from tests import factories

    with runtime.transaction() as session:
        factories.customer(session, clock, "C-1", company_name="桜商事株式会社",
                           email="taro@sakura.example", phone="03-1234-5678")  # fmt: skip
        factories.customer(session, clock, "C-2", company_name="Bolt K.K.")
    with snapshot(runtime.engine) as connection:
        assert [m.customer_id for m in find_customers(connection, "桜商事")] == ["C-1"]
        assert [m.customer_id for m in find_customers(connection, "TARO@SAKURA")] == ["C-1"]
        assert [m.customer_id for m in find_customers(connection, "０３-1234")] == ["C-1"]
        assert [m.customer_id for m in find_customers(connection, "bolt")] == ["C-2"]
        assert find_customers(connection, "x") == []  # too short to search


def test_breach_report_takes_whole_days_at_both_ends(cli, seeded):
    result = cli("audit", "report", "breach", "acme", "--since", "2026-04-01",
                 "--until", "2026-04-30", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["since"], body["until"]) == (
        "2026-04-01T00:00:00.000000Z", "2026-04-30T23:59:59.999999Z",
    )  # fmt: skip
    assert body["customers"] == [
        {"customer_id": "C-1", "count": 2, "first": "2026-04-01T00:00:00.000000Z",
         "last": "2026-04-30T23:59:59.999999Z",
         "items": ["customer_id", "email", "inquiries", "name", "phone", "updated_at"],
         "purposes": ["inquiry_response", "service_contact"]},
        {"customer_id": "C-2", "count": 1, "first": "2026-04-01T00:00:00.000000Z",
         "last": "2026-04-01T00:00:00.000000Z",
         "items": ["customer_id", "email", "name", "phone", "updated_at"],
         "purposes": ["service_contact"]},
    ]  # fmt: skip
    assert body["totals"] == {
        "customers_affected": 2,
        "items_affected": ["customer_id", "email", "inquiries", "name", "phone", "updated_at"],
        "customers_per_item": {"customer_id": 2, "email": 2, "inquiries": 1, "name": 2,
                               "phone": 2, "updated_at": 2},
        "disclosures": 3,
        "requests": 2,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("since", "until", "customers"),
    [
        ("2026-03-31", "2026-03-31", ["C-1"]),  # only seq 1
        ("2026-05-01", "2026-05-01", ["C-3"]),  # only seq 7
        ("2026-04-01T00:00:00.000001Z", "2026-04-30T23:59:59.999998Z", []),  # both just missed
        ("2026-04-01T09:00:00+09:00", "2026-04-01T09:00:00+09:00", ["C-1", "C-2"]),  # one instant
        ("2026-06-01", "2026-06-30", []),  # nothing at all
    ],
)
def test_breach_window_boundaries_are_exact(cli, seeded, since, until, customers):
    body = json.loads(
        cli(
            "audit", "report", "breach", "acme", "--since", since, "--until", until, "--json"
        ).stdout
    )
    assert [c["customer_id"] for c in body["customers"]] == customers


def test_breach_report_of_another_reseller_shows_only_its_own(cli, seeded):
    body = json.loads(cli("audit", "report", "breach", "bolt", "--since", "2026-01-01",
                          "--until", "2026-12-31", "--json").stdout)  # fmt: skip
    assert [c["customer_id"] for c in body["customers"]] == ["C-1"]
    assert body["totals"]["items_affected"] == ["contract", "customer_id", "fees", "updated_at"]


def test_breach_report_prints_totals(cli, seeded):
    result = cli(
        "audit", "report", "breach", "acme", "--since", "2026-04-01", "--until", "2026-04-30"
    )
    assert "persons: 2;" in result.stdout


def test_a_reversed_window_is_refused(cli, seeded):
    result = cli(
        "audit", "report", "breach", "acme", "--since", "2026-05-01", "--until", "2026-04-01"
    )
    assert result.exit_code == 1 and "before --since" in result.stderr


def _plan(connection, statement) -> str:
    compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        rows = connection.execute(text(f"EXPLAIN {compiled}"))
        return "\n".join(row[0] for row in rows)
    rows = connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
    return "\n".join(row[-1] for row in rows)


def test_reports_read_indexes_not_the_whole_log(seeded):
    window = Window.parse("2026-04-01", "2026-04-30")
    with snapshot(seeded.engine) as connection:
        plans = [
            _plan(connection, reports.subject_query("customer", "C-1")),
            _plan(connection, reports.breach_query("acme", window, 2, 6)),
            _plan(connection, select(AuditEntry.at).where(AuditEntry.at >= "2026-04-01")),
        ]
    for plan in plans:
        if seeded.engine.dialect.name == "postgresql":
            assert "Seq Scan" not in plan, plan
        else:
            assert not any(line.startswith("SCAN") for line in plan.splitlines()), plan


def test_every_read_of_the_log_is_logged(cli, seeded, tmp_path):
    cli("audit", "report", "customer", "C-1")
    cli("audit", "report", "breach", "acme", "--since", "2026-04-01", "--until", "2026-04-30")
    cli("audit", "anomalies")
    cli("audit", "export", "--customer", "C-2", "--output", str(tmp_path / "x.jsonl"))
    cli("audit", "verify")
    with seeded.transaction() as session:
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.seq > 7, AuditEntry.action.not_in(("audit.checkpoint", "key.init"))
            )
        ).all()
    seen = [(e.action, e.actor_kind, e.actor_id, json.loads(e.subjects), json.loads(e.details))
            for e in entries]  # fmt: skip
    operator = ("operator", "test-operator")
    assert seen[0] == ("audit.report", *operator, [["customer", "C-1"]], {"report": "customer"})
    assert seen[1][:4] == ("audit.report", *operator, [["partner", "acme"]])
    assert seen[1][4]["report"] == "breach"
    assert seen[2][0] == "audit.report" and seen[2][4]["report"] == "anomalies"
    assert seen[3][:4] == ("audit.export", *operator, [["customer", "C-2"]])
    assert seen[4][0] == "audit.verify" and seen[4][4]["intact"] is True
    assert len(seen) == 5


def test_an_entry_logged_under_a_renamed_rule_reads_by_its_name_today(cli, runtime, clock):
    with runtime.transaction() as session:
        request(session, clock, customers=("C-7",), rule="customer_not_withheld",
                when="2026-04-02T10:00:00Z")  # fmt: skip
    body = json.loads(cli("audit", "report", "customer", "C-7", "--json").stdout)
    assert body["refusals"][0]["rule"] == "customer_in_use"
    assert body["refusals"][0]["logged_rule"] == "customer_not_withheld"


def _reads(runtime, clock, *, partner="acme", client=None, customers, when):
    with runtime.transaction() as session:
        request(session, clock, partner=partner, client=client, customers=customers, when=when)


def test_a_leak_over_a_thousand_persons_is_reportable_with_its_deadlines(cli, runtime, clock):
    from tests import factories

    with runtime.transaction() as session:
        factories.partner(session, clock, "acme", name="Acme Sales K.K.")
    _reads(runtime, clock, customers=tuple(f"C-{n:04d}" for n in range(1001)),
           when="2026-04-01T10:00:00Z")  # fmt: skip
    result = cli("audit", "report", "breach", "acme", "--until", "2026-04-30",
                 "--learnt-on", "2026-04-10", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["persons"] == 1001 and body["company_name"] == "Acme Sales K.K."
    # The window starts at the reseller's first disclosure by default.
    assert body["since"] == "2026-04-01T10:00:00.000000Z"
    over = next(g for g in body["reporting_test"] if g["ground"] == "persons_over_1000")
    assert over["applies"] and over["computed"]
    assert body["reportable"] is True
    assert body["deadlines"] == {"preliminary": ["2026-04-13", "2026-04-15"],
                                 "final": "2026-05-10", "final_days": 30}  # fmt: skip
    assert "氏名" in body["items_text"]


def test_an_unlawful_purpose_makes_a_small_leak_reportable_with_sixty_days(cli, runtime, clock):
    _reads(runtime, clock, customers=("C-1", "C-2"), when="2026-04-01T10:00:00Z")
    quiet = json.loads(cli("audit", "report", "breach", "acme", "--learnt-on", "2026-04-10",
                           "--json").stdout)  # fmt: skip
    assert quiet["reportable"] is False and quiet["deadlines"] is None
    theft = json.loads(cli("audit", "report", "breach", "acme", "--learnt-on", "2026-04-10",
                           "--unlawful-purpose", "--json").stdout)  # fmt: skip
    assert theft["reportable"] is True
    assert theft["deadlines"]["final"] == "2026-06-09" and theft["deadlines"]["final_days"] == 60


def test_a_leak_narrowed_to_one_client(cli, runtime, clock):
    _reads(runtime, clock, client="laptop", customers=("C-1",), when="2026-04-01T10:00:00Z")
    _reads(runtime, clock, client="server", customers=("C-2", "C-3"), when="2026-04-01T11:00:00Z")
    whole = json.loads(cli("audit", "report", "breach", "acme", "--json").stdout)
    laptop = json.loads(cli("audit", "report", "breach", "acme", "--client", "laptop",
                            "--json").stdout)  # fmt: skip
    assert whole["persons"] == 3 and laptop["persons"] == 1
    assert [c["customer_id"] for c in laptop["customers"]] == ["C-1"]


def test_the_notification_csv_carries_contacts_and_totals(cli, runtime, clock, tmp_path):
    import os

    from tests import factories

    with runtime.transaction() as session:
        factories.customer(session, clock, "C-1", company_name="見本商事株式会社",
                           email="hanako@example.jp", phone="=1+1")  # fmt: skip
    _reads(runtime, clock, customers=("C-1",), when="2026-04-01T10:00:00Z")
    target = tmp_path / "notify.csv"
    result = cli("audit", "report", "breach", "acme", "--csv", str(target))
    assert result.exit_code == 0, result.output
    assert os.stat(target).st_mode & 0o777 == 0o600  # personal data: owner-only
    lines = target.read_bytes().decode("utf-8-sig").splitlines()
    assert lines[0].startswith("customer_id,company_name,department,name,email,phone,address")
    assert "見本商事株式会社" in lines[1] and "hanako@example.jp" in lines[1]
    assert "'=1+1" in lines[1]  # never a formula in a spreadsheet
    assert "persons,1" in lines and "disclosures,1" in lines


def test_leak_windows_are_days_of_the_companys_calendar(cli, runtime, clock, gateway_env):
    from click.testing import CliRunner

    from gateway.cli import main

    # 2026-04-01 00:30 JST is still March 31 in UTC.
    _reads(runtime, clock, customers=("C-1",), when="2026-03-31T15:30:00Z")
    env = gateway_env | {"GATEWAY_TIMEZONE": "Asia/Tokyo"}
    args = ["audit", "report", "breach", "acme", "--since", "2026-04-01", "--until", "2026-04-01"]
    result = CliRunner().invoke(main, [*args, "--json"], env=env)
    body = json.loads(result.stdout)
    assert body["since"] == "2026-03-31T15:00:00.000000Z" and body["persons"] == 1
    assert body["since_local"] == "2026-04-01 00:00 JST"
