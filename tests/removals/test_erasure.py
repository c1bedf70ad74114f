"""Erasure: every stored value of the customer gone — from the SQLite files too — a tombstone
kept, every reseller that received the customer told, the log's history kept, and the id
refused at the import door until an operator readmits it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from gateway.customers.models import Customer, ErasedCustomer
from gateway.designations.models import Designation
from gateway.removals.models import RemovalEvent

SECRET_EMAIL = "hanako.erase-me-7c1f@example.jp"


def _files(config) -> list[Path]:
    database = Path(config.database_url.removeprefix("sqlite:///"))
    return [p for p in (database, Path(f"{database}-wal")) if p.exists()]


def test_erase_removes_the_values_tells_the_resellers_and_keeps_a_tombstone(
    world, app, cli, clock, tmp_path
):
    line = {"customer_id": "C-1", "name": "見本 花子", "email": SECRET_EMAIL,
            "contract": {"usage_status": "active", "services": ["sync"]}}  # fmt: skip
    source = tmp_path / "c1.jsonl"
    source.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    assert cli("customers", "import", str(source)).exit_code == 0
    config = app.extensions["gateway"].config
    sqlite = config.database_url.startswith("sqlite")
    if sqlite:
        assert any(SECRET_EMAIL.encode() in p.read_bytes() for p in _files(config))

    received = (clock.now() + timedelta(hours=9)).date().isoformat()
    request = json.loads(cli("rights", "open", "C-1", "--kind", "deletion", "--received-on",
                             received, "--json").output)["id"]  # fmt: skip
    result = cli("customers", "erase", "C-1", "--request", request, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["request"] == request
    runtime = world["runtime"]
    with runtime.transaction() as session:
        assert session.get(Customer, "C-1") is None
        assert (
            list(session.scalars(select(Designation).where(Designation.customer_id == "C-1"))) == []
        )
        assert session.get(ErasedCustomer, "C-1").request_id == request
        events = [(e.partner_id, e.reason) for e in session.scalars(select(RemovalEvent))]
    assert events == [("acme", "erased")]  # acme received C-1; bolt never did
    if sqlite:  # nowhere in the database files once erase returned
        for path in _files(config):
            data = path.read_bytes()
            assert SECRET_EMAIL.encode() not in data and "見本 花子".encode() not in data, path
    # The log keeps the disclosure history, which the customer may still ask for.
    report = json.loads(cli("audit", "report", "customer", "C-1", "--json").output)
    assert [d["partner"] for d in report["disclosures"]] == ["acme"]
    assert report["answer"]["erased_at"]
    assert "消去し" in cli("audit", "report", "customer", "C-1", "--letter").output


def test_an_erased_id_is_refused_at_the_import_door_until_readmitted(world, cli, tmp_path):
    assert cli("customers", "erase", "C-2").exit_code == 0
    source = tmp_path / "back.jsonl"
    source.write_text(
        json.dumps({"customer_id": "C-9", "contract": {"usage_status": "active"}}) + "\n"
        + json.dumps({"customer_id": "C-2", "contract": {"usage_status": "active"}}) + "\n"
    )  # fmt: skip
    refused = cli("customers", "import", str(source))
    assert refused.exit_code == 1
    assert "line 2: customer 'C-2' was erased" in refused.output
    with world["runtime"].transaction() as session:
        assert session.get(Customer, "C-9") is None  # nothing written
    assert cli("customers", "readmit", "C-2", "--reason", "signed up again").exit_code == 0
    assert cli("customers", "import", str(source)).exit_code == 0


def test_erasure_refuses_what_it_cannot_do(world, cli):
    assert cli("customers", "erase", "NO-SUCH").exit_code == 1
    assert cli("customers", "erase", "C-3").exit_code == 0
    again = cli("customers", "erase", "C-3")
    assert again.exit_code == 1 and "already erased" in again.output
    assert cli("customers", "readmit", "C-1", "--reason", "x").exit_code == 1  # not erased
    assert cli("customers", "readmit", "C-3", "--reason", " ").exit_code == 1
