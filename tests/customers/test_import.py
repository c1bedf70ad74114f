"""The customer import door, end to end through the CLI and the service, on both databases."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from gateway import allowlist
from gateway.audit.models import AuditEntry
from gateway.clock import isoformat
from gateway.customers.importer import MAX_LINE_BYTES, import_customers
from gateway.customers.models import Customer
from gateway.jsonlines import ImportRefused
from tests.factories import OPERATOR

CONTENT_KEYS = allowlist.load().field_names - allowlist.ALWAYS


def record(customer_id: str = "C-1", **fields) -> dict:
    return {
        "customer_id": customer_id,
        "name": f"Customer {customer_id}",
        "email": f"{customer_id.lower()}@example.com",
        "contract": {"usage_status": "active", "services": ["sync"]},
        **fields,
    }


def write_lines(path, *lines) -> str:
    with open(path, "wb") as handle:
        for line in lines:
            if isinstance(line, bytes):
                handle.write(line + b"\n")
            elif isinstance(line, str):
                handle.write(line.encode() + b"\n")
            else:
                handle.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
    return str(path)


def stored(runtime) -> dict[str, Customer]:
    with runtime.transaction() as session:
        return {c.customer_id: c for c in session.scalars(select(Customer))}


def snapshot(runtime) -> tuple:
    with runtime.transaction() as session:
        return (
            tuple(session.execute(select(Customer.customer_id, Customer.content_hash,
                                         Customer.updated_at).order_by(Customer.customer_id))),
            session.scalar(select(func.count()).select_from(AuditEntry)),
        )  # fmt: skip


def entries(runtime) -> list[AuditEntry]:
    with runtime.transaction() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def run_import(runtime, clock, *lines) -> object:
    source = io.BytesIO(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    with runtime.transaction() as session:
        return import_customers(session, clock, OPERATOR, source, allowlist=allowlist.current())


# --- happy paths ----------------------------------------------------------------------------


def test_import_stores_exactly_the_allowlisted_content_and_says_so(cli, runtime, tmp_path):
    path = write_lines(tmp_path / "c.jsonl", record("C-1"), record("C-2"), record("C-3"))
    result = cli("customers", "import", path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "imported 3 records from 3 lines: 3 created, 0 updated, 0 unchanged; no fields dropped"
    ]
    customers = stored(runtime)
    assert sorted(customers) == ["C-1", "C-2", "C-3"]
    content = json.loads(customers["C-1"].content)
    assert set(content) == CONTENT_KEYS
    assert content["name"] == "Customer C-1" and content["fax"] is None
    assert content["contract"]["usage_status"] == "active"


def test_fields_outside_the_allowlist_are_dropped_counted_and_named(cli, runtime, tmp_path):
    path = write_lines(
        tmp_path / "c.jsonl",
        record("C-1", credit_check="A+", contract={"usage_status": "active", "rank": "x"}),
        record("C-2", credit_check="B"),
    )
    result = cli("customers", "import", path, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dropped_fields"] == {"contract.rank": 1, "credit_check": 2}
    assert (summary["applied"], summary["created"], summary["policy"]) == (
        True, 2, "all-or-nothing",
    )  # fmt: skip
    assert "A+" not in result.stdout
    text = cli("customers", "import", path).stdout
    assert "dropped at the door: contract.rank ×1, credit_check ×2" in text


def test_one_audit_entry_per_import_with_counts_and_no_values(cli, runtime, tmp_path):
    path = write_lines(tmp_path / "c.jsonl", record("C-1", internal_notes="VIP"), record("C-2"))
    cli("customers", "import", path)
    [entry] = [e for e in entries(runtime) if e.action == "customers.import"]
    details = json.loads(entry.details)
    assert (details["lines"], details["records"], details["created"]) == (2, 2, 2)
    assert details["dropped_names"] == "internal_notes"
    assert "VIP" not in entry.details and "Customer C-1" not in entry.details
    assert (entry.actor_kind, entry.actor_id) == ("operator", "test-operator")


def test_reimport_of_the_same_content_leaves_updated_at_alone(runtime, clock):
    run_import(runtime, clock, record("C-1"), record("C-2"))
    first = {k: v.updated_at for k, v in stored(runtime).items()}
    clock.advance(timedelta(hours=1))
    summary = run_import(runtime, clock, record("C-1"), record("C-2"))
    assert (summary.created, summary.updated, summary.unchanged) == (0, 0, 2)
    assert {k: v.updated_at for k, v in stored(runtime).items()} == first


def test_updated_at_moves_only_for_the_customer_whose_content_changed(runtime, clock):
    run_import(runtime, clock, record("C-1"), record("C-2"))
    before = stored(runtime)
    clock.advance(timedelta(hours=1))
    # A changed non-allowlisted field is no change to the shared content.
    summary = run_import(
        runtime, clock, record("C-1", phone="03-1234-5678"), record("C-2", credit_check="new")
    )
    assert (summary.updated, summary.unchanged) == (1, 1)
    after = stored(runtime)
    assert after["C-1"].updated_at == isoformat(clock.now())
    assert after["C-2"].updated_at == before["C-2"].updated_at


def test_duplicate_lines_the_later_one_wins(runtime, clock):
    summary = run_import(
        runtime, clock, record("C-1"), record("C-1"), record("C-1", name="Later Name")
    )
    assert (summary.records, summary.created, summary.repeated) == (3, 1, 2)
    assert json.loads(stored(runtime)["C-1"].content)["name"] == "Later Name"


def test_blank_lines_and_a_byte_order_mark_are_accepted(cli, runtime, tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + json.dumps(record("C-1")).encode() + b"\n\n  \n"
        + json.dumps(record("C-2")).encode()  # no newline at the end
    )  # fmt: skip
    result = cli("customers", "import", str(path))
    assert result.exit_code == 0, result.stderr
    assert sorted(stored(runtime)) == ["C-1", "C-2"]


def test_contract_ended_is_derived_at_import(runtime, clock):
    run_import(
        runtime, clock,
        record("C-1"),
        record("C-2", contract={"usage_status": "terminated"}),
        record("C-3", contract={"usage_status": "cancelled"}),
        record("C-4", contract={"usage_status": "suspended"}),
    )  # fmt: skip
    assert {k: v.contract_ended for k, v in stored(runtime).items()} == {
        "C-1": False, "C-2": True, "C-3": True, "C-4": False,
    }  # fmt: skip
    run_import(runtime, clock, record("C-2"))
    assert stored(runtime)["C-2"].contract_ended is False


# --- hostile twins: bad records apply nothing and are listed by line -------------------------

BAD = {
    "malformed JSON": (b'{"customer_id": "C-9", "name": ', "malformed JSON"),
    "oversized line": (
        json.dumps(record("C-9", address="x" * (MAX_LINE_BYTES + 10))).encode(),
        f"longer than {MAX_LINE_BYTES} bytes",
    ),
    "not an object": (b'["C-9"]', "not a JSON object"),
    "NaN": (b'{"customer_id": "C-9", "fees": {"monthly_amount": NaN}}', "NaN"),
    "not UTF-8": (b'{"customer_id": "C-9", "name": "\xff\xfe"}', "not UTF-8"),
    "nested too deeply": (b"[" * 100_000 + b"]" * 100_000, "malformed JSON"),
    "missing customer_id": (
        json.dumps({"name": "x", "contract": {"usage_status": "active"}}).encode(),
        "customer_id: Missing data",
    ),
    "bad customer_id": (json.dumps(record("../C 9")).encode(), "customer_id: does not have"),
    "name not a string": (json.dumps(record("C-9", name=5)).encode(), "name: Not a valid string"),
    "services not a list": (
        json.dumps(record("C-9", contract={"usage_status": "active", "services": "sync"})).encode(),
        "contract: services: Not a valid list",
    ),
    "unknown usage status": (
        json.dumps(record("C-9", contract={"usage_status": "deleted"})).encode(),
        "contract: usage_status: Must be one of",
    ),
    "missing usage status": (
        json.dumps(record("C-9", contract={"services": []})).encode(),
        "contract: usage_status: Missing data",
    ),
    "missing contract": (
        json.dumps({"customer_id": "C-9", "name": "x"}).encode(),
        "contract: Missing data",
    ),
    "bad date": (
        json.dumps(record("C-9", contract={"usage_status": "active",
                                           "contract_date": "2026-02-30"})).encode(),
        "contract: contract_date: Not a valid date",
    ),  # fmt: skip
    "naive instant": (
        json.dumps(record("C-9", inquiries=[{"received_at": "2026-01-01T10:00:00"}])).encode(),
        "inquiries: 0: received_at: Not a valid aware datetime",
    ),
    "amount not a number": (
        json.dumps(record("C-9", fees={"monthly_amount": "lots"})).encode(),
        "fees: monthly_amount: Not a valid number",
    ),
    "absurd amount": (
        b'{"customer_id": "C-9", "contract": {"usage_status": "active"},'
        b' "fees": {"monthly_amount": 1e999}}',
        "fees: monthly_amount: Must be greater than or equal to",
    ),
    "too long": (json.dumps(record("C-9", name="x" * 201)).encode(), "name: Longer than"),
    "control characters": (
        json.dumps(record("C-9", name="A\x1b[31mB")).encode(),
        "name: must not contain control characters",
    ),
    "contract not an object": (
        json.dumps(record("C-9", contract="active")).encode(),
        "contract: Invalid input type",
    ),
}  # fmt: skip


@pytest.mark.parametrize("line,reason", BAD.values(), ids=BAD.keys())
def test_a_bad_record_is_listed_by_line_and_nothing_is_applied(
    cli, runtime, tmp_path, line, reason
):
    cli("customers", "import", write_lines(tmp_path / "a.jsonl", record("C-1")))
    before = snapshot(runtime)
    path = write_lines(tmp_path / "b.jsonl", record("C-1", name="Changed"), record("C-2"), line)

    result = cli("customers", "import", path)

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("line 3: ") and reason in lines[0], lines[0]
    assert lines[-1].startswith("error: import refused, nothing applied")
    assert "Traceback" not in result.stderr
    assert snapshot(runtime) == before


def test_every_bad_line_is_listed_with_json_summary(cli, runtime, tmp_path):
    path = write_lines(
        tmp_path / "c.jsonl", record("C-1"), b"{oops", record("C-2"), record("C-3", name=7),
        {"name": "no id", "contract": {"usage_status": "active"}},
    )  # fmt: skip
    result = cli("customers", "import", path, "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["applied"] is False
    assert [b["line"] for b in summary["bad_records"]] == [2, 4, 5]
    assert (summary["records"], summary["bad"], summary["created"]) == (2, 3, 0)
    assert stored(runtime) == {}
    assert result.stderr.startswith("error: import refused")


def test_reasons_never_quote_the_values(cli, tmp_path):
    secret = "Yamada-Secret-Value"
    path = write_lines(
        tmp_path / "c.jsonl",
        record("C-1", name=secret * 20),  # too long
        record("C-2", contract={"usage_status": secret}),
        f'{{"customer_id": "C-3", "name": "{secret}", }}',
    )
    result = cli("customers", "import", path, "--json")
    assert result.exit_code == 1
    assert secret not in result.stdout and secret not in result.stderr


def test_missing_file_is_one_line(cli):
    result = cli("customers", "import", "/nonexistent/c.jsonl")
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")


def test_the_service_raises_with_the_summary(runtime, clock):
    with pytest.raises(ImportRefused) as refused:
        run_import(runtime, clock, record("C-1"), {"customer_id": "C-2"})
    assert refused.value.summary.bad_lines[0].line == 2
    assert stored(runtime) == {}
