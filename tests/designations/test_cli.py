"""Designations through the CLI: add, withdraw, import, and their hostile twins."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.designations.models import Designation
from gateway.sharing.service import customer_for_partner
from tests import factories


@pytest.fixture
def known(runtime, clock):
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")
        factories.partner(session, clock, "beta")
        factories.customer(session, clock, "C-1")
        factories.customer(session, clock, "C-2")
    return runtime


def _designations(runtime) -> list[tuple]:
    with runtime.transaction() as session:
        return list(
            session.execute(
                select(
                    Designation.customer_id, Designation.partner_id,
                    Designation.designated_on, Designation.withdrawn_on,
                ).order_by(Designation.customer_id, Designation.partner_id)
            )
        )  # fmt: skip


def _snapshot(runtime) -> tuple:
    with runtime.transaction() as session:
        log = session.scalar(select(func.count()).select_from(AuditEntry))
    return (_designations(runtime), log)


def _designated(runtime, customer_id, partner_id, day: date | None = None) -> bool:
    """Judged on the operator's today: the CLI runs on the system clock."""
    with runtime.transaction() as session:
        seen = customer_for_partner(session, partner_id, customer_id, day or _today())
        return seen.designated


def _today() -> date:
    return datetime.now(UTC).date()


def _actions(runtime) -> list[str]:
    with runtime.transaction() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_a_customer_may_designate_several_resellers(cli, known, clock):
    day = _today().isoformat()
    first = cli("designations", "add", "C-1", "acme", "--on", day, "--json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout) == {
        "customer_id": "C-1", "partner_id": "acme", "designated_on": day, "withdrawn_on": None,
    }  # fmt: skip
    assert cli("designations", "add", "C-1", "beta").exit_code == 0
    assert _designated(known, "C-1", "acme") and _designated(known, "C-1", "beta")
    assert not _designated(known, "C-2", "acme")
    assert _actions(known)[-2:] == ["designation.add", "designation.add"]


def test_withdrawal_ends_that_resellers_access_at_once_and_only_its(cli, known, clock):
    cli("designations", "add", "C-1", "acme")
    cli("designations", "add", "C-1", "beta")
    result = cli("designations", "withdraw", "C-1", "acme")
    assert result.exit_code == 0, result.stderr
    assert not _designated(known, "C-1", "acme")
    assert _designated(known, "C-1", "beta")
    assert _actions(known)[-1] == "designation.withdraw"
    # Designated again later: active again.
    assert cli("designations", "add", "C-1", "acme").exit_code == 0
    assert _designated(known, "C-1", "acme")


def test_a_designation_from_a_future_day_is_not_active_yet(cli, known):
    tomorrow = _today() + timedelta(days=1)
    cli("designations", "add", "C-1", "acme", "--on", tomorrow.isoformat())
    assert not _designated(known, "C-1", "acme")
    assert _designated(known, "C-1", "acme", tomorrow)


def _write(path, *lines) -> str:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return str(path)


def test_import_upserts_and_is_idempotent(cli, known, tmp_path):
    path = _write(
        tmp_path / "d.jsonl",
        {"customer_id": "C-1", "partner_id": "acme", "designated_on": "2026-01-01"},
        {"customer_id": "C-1", "partner_id": "beta", "designated_on": "2026-02-01"},
        {"customer_id": "C-2", "partner_id": "acme", "designated_on": "2026-03-01"},
    )
    first = cli("designations", "import", path, "--json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["created"] == 3
    again = cli("designations", "import", path)
    assert again.stdout.strip() == (
        "imported 3 designations from 3 lines: 0 created, 0 reactivated, 0 changed, 3 unchanged"
    )
    assert len(_designations(known)) == 3
    assert _actions(known)[-2:] == ["designations.import", "designations.import"]


def test_import_with_a_bad_line_applies_nothing_and_lists_every_bad_line(cli, known, tmp_path):
    before = _snapshot(known)
    path = _write(
        tmp_path / "d.jsonl",
        {"customer_id": "C-1", "partner_id": "acme", "designated_on": "2026-01-01"},
        {"customer_id": "C-1", "partner_id": "ghost", "designated_on": "2026-01-01"},
        {"customer_id": "C-404", "partner_id": "acme", "designated_on": "2026-01-01"},
        "{not json",
        {"customer_id": "C-2", "partner_id": "acme", "designated_on": "2026-02-30"},
        {"customer_id": "C-2", "partner_id": "acme"},
        {"customer_id": "C-2", "partner_id": "acme", "designated_on": "2026-01-01", "x": 1},
        "x" * 5000,
    )
    result = cli("designations", "import", path)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[:-1] == [
        "line 2: partner_id: no such partner",
        "line 3: customer_id: no such customer",
        "line 4: malformed JSON (Expecting property name enclosed in double quotes at column 2)",
        "line 5: designated_on: Not a valid date",
        "line 6: designated_on: Missing data for required field",
        "line 7: x: Unknown field",
        "line 8: longer than 4096 bytes",
    ]
    assert lines[-1].startswith("error: import refused, nothing applied")
    assert _snapshot(known) == before


HOSTILE = {
    "unknown partner": ("designations", "add", "C-1", "ghost"),
    "unknown customer": ("designations", "add", "C-404", "acme"),
    "bad date": ("designations", "add", "C-1", "acme", "--on", "2026-13-01"),
    "bad customer id": ("designations", "add", "C 1", "acme"),
    "already designated": ("designations", "add", "C-2", "acme"),
    "withdraw what was never designated": ("designations", "withdraw", "C-1", "beta"),
    "withdraw twice": ("designations", "withdraw", "C-1", "acme"),
    "withdraw for unknown partner": ("designations", "withdraw", "C-1", "ghost"),
    "missing import file": ("designations", "import", "/nonexistent.jsonl"),
}


@pytest.mark.parametrize("args", HOSTILE.values(), ids=HOSTILE.keys())
def test_bad_designation_command_is_one_line_and_changes_nothing(cli, known, args):
    cli("designations", "add", "C-2", "acme")
    cli("designations", "add", "C-1", "acme")
    cli("designations", "withdraw", "C-1", "acme")
    before = _snapshot(known)

    result = cli(*args)

    assert result.exit_code != 0
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    assert _snapshot(known) == before
