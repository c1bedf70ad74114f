"""Sandbox resellers: marked at registration, and never mixed with real customers — each
refusal next to the designation that is allowed."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from gateway import allowlist
from gateway.audit.models import AuditEntry
from gateway.customers.importer import import_customers
from gateway.customers.models import Customer
from gateway.designations import service as designations
from gateway.designations.models import Designation
from gateway.errors import InvalidInput
from gateway.jsonlines import ImportRefused
from gateway.partners.models import Partner
from tests import factories
from tests.sandbox.conftest import SANDBOX, sandbox_partner


def _generated(session, clock, customer_id: str = "SANDBOX-000001") -> None:
    """A generated customer, imported as the sandbox generator does."""
    line = {"customer_id": customer_id, "contract": {"usage_status": "active"}}
    import_customers(session, clock, factories.OPERATOR, io.BytesIO(json.dumps(line).encode()),
                     allowlist=allowlist.current(), generated=True)  # fmt: skip


def _snapshot(runtime) -> tuple:
    with runtime.transaction() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(table))
            for table in (Partner, Customer, Designation, AuditEntry)
        )


def test_partners_add_sandbox_marks_the_reseller_and_list_shows_it(cli, runtime):
    added = cli("partners", "add", "sbx", "--name", "Sandbox K.K.", "--sandbox", "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["sandbox"] is True
    assert "as a sandbox reseller" in cli("partners", "add", "acme", "--name", "Acme").stdout + (
        cli("partners", "add", "sbx2", "--name", "S2", "--sandbox").stdout
    )

    listed = {p["id"]: p["sandbox"] for p in json.loads(cli("partners", "list", "--json").stdout)}
    assert listed == {"acme": False, "sbx": True, "sbx2": True}
    table = cli("partners", "list").stdout.splitlines()
    assert table[0].split()[-1] == "SANDBOX"
    assert [line.split()[0] for line in table[1:] if line.endswith("yes")] == ["sbx", "sbx2"]
    with runtime.transaction() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "partner.add")
                                .order_by(AuditEntry.seq)).first()  # fmt: skip
    assert json.loads(entry.details) == {"sandbox": True}


def test_a_real_customer_cannot_designate_a_sandbox_reseller(cli, runtime, clock):
    with runtime.transaction() as session:
        sandbox_partner(session, clock)
        factories.partner(session, clock, "acme")
        factories.customer(session, clock, "C-1")
    before = _snapshot(runtime)
    refused = cli("designations", "add", "C-1", SANDBOX)
    assert refused.exit_code == 1
    assert refused.stderr.count("\n") == 1 and "sandbox reseller" in refused.stderr
    assert _snapshot(runtime) == before
    assert cli("designations", "add", "C-1", "acme").exit_code == 0  # its twin: a real reseller


def test_a_generated_customer_cannot_designate_a_real_reseller(runtime, clock):
    with runtime.transaction() as session:
        sandbox_partner(session, clock)
        factories.partner(session, clock, "acme")
        _generated(session, clock)
    before = _snapshot(runtime)
    refused = pytest.raises(InvalidInput, match="generated sandbox customer")
    with refused, runtime.transaction() as session:
        designations.add_designation(session, clock, factories.OPERATOR,
                                     customer_id="SANDBOX-000001", partner_id="acme")  # fmt: skip
    assert _snapshot(runtime) == before
    with runtime.transaction() as session:  # its twin: another sandbox reseller
        sandbox_partner(session, clock, "sbx2")
        designations.add_designation(session, clock, factories.OPERATOR,
                                     customer_id="SANDBOX-000001", partner_id="sbx2")  # fmt: skip


def test_a_designations_file_mixing_the_two_is_refused_whole(cli, runtime, clock, tmp_path):
    with runtime.transaction() as session:
        sandbox_partner(session, clock)
        factories.partner(session, clock, "acme")
        factories.customer(session, clock, "C-1")
        factories.customer(session, clock, "C-2")
        _generated(session, clock)
    lines = [
        {"customer_id": "C-1", "partner_id": "acme", "designated_on": "2026-01-01"},
        {"customer_id": "C-2", "partner_id": SANDBOX, "designated_on": "2026-01-01"},
        {"customer_id": "SANDBOX-000001", "partner_id": "acme", "designated_on": "2026-01-01"},
    ]
    path = tmp_path / "designations.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = _snapshot(runtime)
    refused = cli("designations", "import", str(path), "--json")
    assert refused.exit_code == 1
    bad = {line["line"] for line in json.loads(refused.stdout)["bad_records"]}
    assert bad == {2, 3}
    assert _snapshot(runtime) == before


@pytest.mark.parametrize("customer_id", ["SANDBOX-000001", "sandbox-7", "Sandbox-X"])
def test_customers_import_refuses_the_ids_reserved_for_generated_customers(
    cli, runtime, tmp_path, customer_id
):
    path = tmp_path / "customers.jsonl"
    lines = [{"customer_id": "C-1", "contract": {"usage_status": "active"}},
             {"customer_id": customer_id, "contract": {"usage_status": "active"}}]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = _snapshot(runtime)
    refused = cli("customers", "import", str(path))
    assert refused.exit_code == 1
    assert "reserved for the sandbox's generated customers" in refused.output
    assert _snapshot(runtime) == before
    path.write_text(json.dumps(lines[0]) + "\n")  # its twin: the real customer alone
    assert cli("customers", "import", str(path)).exit_code == 0


def test_the_generator_may_import_generated_customers_only(runtime, clock):
    with runtime.transaction() as session:
        _generated(session, clock)  # its twin: a generated id
    with pytest.raises(ImportRefused) as refused, runtime.transaction() as session:
        _generated(session, clock, "C-1")
    (bad,) = refused.value.summary.bad_lines
    assert "not a generated sandbox customer id" in bad.reason
