"""The operator's partner commands, end to end through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.partners.models import Nda, Partner


def _snapshot(runtime) -> tuple:
    with runtime.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(Partner)),
            session.scalar(select(func.count()).select_from(Nda)),
            session.scalar(select(func.count()).select_from(AuditEntry)),
            tuple(session.scalars(select(Partner.status).order_by(Partner.id))),
        )


def _entries(runtime) -> list[AuditEntry]:
    with runtime.transaction() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def test_added_partner_is_listed_without_an_nda(cli):
    added = cli("partners", "add", "acme", "--name", "Acme Sales K.K.", "--json")
    assert added.exit_code == 0, added.stderr
    assert json.loads(added.stdout)["status"] == "active"

    listed = json.loads(cli("partners", "list", "--json").stdout)
    assert [(p["id"], p["name"], p["nda_in_force"]) for p in listed] == [
        ("acme", "Acme Sales K.K.", None)
    ]


def test_nda_in_force_today_is_shown_and_a_lapsed_one_is_not(cli):
    cli("partners", "add", "acme", "--name", "Acme")
    cli("partners", "add", "oldco", "--name", "Old Co")
    ok = cli(
        "partners", "nda", "acme", "--reference", "N-1",
        "--signed-on", "2020-01-01", "--expires-on", "2099-12-31",
    )  # fmt: skip
    assert ok.exit_code == 0, ok.stderr
    cli(
        "partners", "nda", "oldco", "--reference", "N-2",
        "--signed-on", "2020-01-01", "--expires-on", "2020-12-31",
    )  # fmt: skip

    listed = {p["id"]: p for p in json.loads(cli("partners", "list", "--json").stdout)}
    assert listed["acme"]["nda_in_force"]["reference"] == "N-1"
    assert listed["oldco"]["nda_in_force"] is None
    assert [n["reference"] for n in listed["oldco"]["ndas"]] == ["N-2"]
    table = cli("partners", "list").stdout
    assert "N-1 until 2099-12-31" in table and "none in force" in table


def test_nda_document_is_recorded_by_its_sha256_fingerprint(cli, tmp_path):
    document = tmp_path / "nda.pdf"
    document.write_bytes(b"%PDF-1.7 signed NDA" * 1000)
    cli("partners", "add", "acme", "--name", "Acme")
    result = cli(
        "partners", "nda", "acme", "--reference", "N-1", "--signed-on", "2026-01-01",
        "--expires-on", "2027-01-01", "--document", str(document), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    expected = hashlib.sha256(document.read_bytes()).hexdigest()
    assert json.loads(result.stdout)["document_sha256"] == expected


def test_revoke_marks_the_partner_revoked_and_logs_the_reason(cli, runtime):
    cli("partners", "add", "acme", "--name", "Acme")
    result = cli("partners", "revoke", "acme", "--reason", "suspected leak", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "revoked"

    last = _entries(runtime)[-1]
    assert (last.action, last.actor_kind, last.actor_id) == (
        "partner.revoke",
        "operator",
        "test-operator",
    )
    assert json.loads(last.details) == {
        "reason": "suspected leak",
        "clients_disabled": 0,
        "tokens_revoked": 0,
    }
    assert json.loads(last.subjects) == [["partner", "acme"]]


def test_every_operator_action_is_logged_in_order(cli, runtime):
    cli("partners", "add", "acme", "--name", "Acme")
    cli("partners", "nda", "acme", "--reference", "N", "--signed-on", "2026-01-01",
        "--expires-on", "2027-01-01")  # fmt: skip
    cli("partners", "revoke", "acme", "--reason", "contract ended")
    entries = _entries(runtime)
    assert [(e.seq, e.action, e.outcome) for e in entries] == [
        (1, "partner.add", "allowed"),
        (2, "partner.nda", "allowed"),
        (3, "partner.revoke", "allowed"),
    ]
    # The same invocation's request id ties the entry to the operator's command.
    assert all(e.request_id for e in entries)
    assert len({e.request_id for e in entries}) == 3


HOSTILE = {
    "duplicate id": ("partners", "add", "acme", "--name", "Another"),
    "bad id": ("partners", "add", "acme/../x", "--name", "Evil"),
    "empty name": ("partners", "add", "newco", "--name", ""),
    "control characters in name": ("partners", "add", "newco", "--name", "A\x1b[31mB"),
    "nda for unknown partner": (
        "partners", "nda", "ghost", "--reference", "N", "--signed-on", "2026-01-01",
        "--expires-on", "2027-01-01",
    ),
    "malformed date": (
        "partners", "nda", "acme", "--reference", "N", "--signed-on", "2026-02-30",
        "--expires-on", "2027-01-01",
    ),
    "expires before signed": (
        "partners", "nda", "acme", "--reference", "N", "--signed-on", "2026-06-01",
        "--expires-on", "2026-05-31",
    ),
    "duplicate nda reference": (
        "partners", "nda", "acme", "--reference", "NDA-1", "--signed-on", "2026-01-01",
        "--expires-on", "2027-01-01",
    ),
    "missing document file": (
        "partners", "nda", "acme", "--reference", "N", "--signed-on", "2026-01-01",
        "--expires-on", "2027-01-01", "--document", "/nonexistent/nda.pdf",
    ),
    "revoke unknown partner": ("partners", "revoke", "ghost", "--reason", "x"),
    "revoke without reason": ("partners", "revoke", "acme"),
    "revoke with blank reason": ("partners", "revoke", "acme", "--reason", ""),
    "revoke twice": ("partners", "revoke", "gone", "--reason", "again"),
    "unknown option": ("partners", "add", "x", "--name", "X", "--colour", "red"),
}  # fmt: skip


@pytest.mark.parametrize("args", HOSTILE.values(), ids=HOSTILE.keys())
def test_bad_input_is_one_line_a_nonzero_exit_and_changes_nothing(cli, runtime, args):
    cli("partners", "add", "acme", "--name", "Acme")
    cli("partners", "nda", "acme", "--reference", "NDA-1", "--signed-on", "2026-01-01",
        "--expires-on", "2027-01-01")  # fmt: skip
    cli("partners", "add", "gone", "--name", "Gone")
    cli("partners", "revoke", "gone", "--reason", "ended")
    before = _snapshot(runtime)

    result = cli(*args)

    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert _snapshot(runtime) == before


def test_unreachable_database_is_one_line_from_the_real_command(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "GATEWAY_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "GATEWAY_OPERATOR": "test-operator",
    }
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "partners", "list"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
