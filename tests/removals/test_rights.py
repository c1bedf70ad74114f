"""The rights register: a request opened, acted on, its removals confirmed by the resellers,
closed — its due day in the company's calendar, overdue when late; every step logged."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from gateway.audit.models import AuditEntry


def _open(cli, customer, kind, received):
    result = cli("rights", "open", customer, "--kind", kind, "--received-on", received, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _register(cli, *flags):
    return json.loads(cli("rights", "list", *flags, "--json").output)


def test_a_stop_use_request_is_acted_on_confirmed_by_resellers_and_closed(world, cli, clock):
    today = (clock.now() + timedelta(hours=9)).date()  # Asia/Tokyo
    opened = _open(cli, "C-3", "stop-use", today.isoformat())
    assert opened["due_on"] == (today + timedelta(days=14)).isoformat()
    assert cli("customers", "stop-use", "C-3", "--request", opened["id"]).exit_code == 0
    (view,) = _register(cli, "--open")
    assert [a["action"] for a in view["actions"]] == ["stop_use"]
    assert {(r["partner_id"], r["confirmed_at"] is None) for r in view["removals"]} == {
        ("acme", True),
        ("bolt", True),
    }
    for partner in ("acme", "bolt"):  # each reseller deletes its copy, then acknowledges
        token = world["tokens"][partner]
        polled = (
            world["http"]
            .post("/v1/events", json={}, headers={"Authorization": f"Bearer {token}"})
            .json
        )
        world["http"].post(
            "/v1/events",
            json={"ack": list(polled["sets"]), "maxEvents": 0},
            headers={"Authorization": f"Bearer {token}"},
        )
    (view,) = _register(cli, "--open")
    assert all(r["confirmed_at"] for r in view["removals"])
    closed = cli(
        "rights",
        "close",
        opened["id"],
        "--outcome",
        "done",
        "--note",
        "stopped; both resellers confirmed",
    )
    assert closed.exit_code == 0
    assert _register(cli, "--open") == []
    with world["runtime"].transaction() as session:
        actions = [
            e.action
            for e in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.like("rights.%"))
                .order_by(AuditEntry.seq)
            )
        ]
    assert actions == ["rights.open", "rights.act", "rights.close"]


def test_a_request_past_its_due_day_is_overdue(world, cli, clock):
    today = (clock.now() + timedelta(hours=9)).date()
    late = _open(cli, "C-1", "disclosure", (today - timedelta(days=20)).isoformat())
    fresh = _open(cli, "C-2", "correction", today.isoformat())
    assert [r["id"] for r in _register(cli, "--overdue")] == [late["id"]]
    assert {r["id"] for r in _register(cli, "--open")} == {late["id"], fresh["id"]}
    report = cli("audit", "report", "customer", "C-1", "--request", late["id"])
    assert report.exit_code == 0
    assert [a["action"] for a in _register(cli)[-1]["actions"]] == ["disclosure_report"]


def test_the_register_refuses_bad_requests_and_mismatched_actions(world, cli, clock):
    today = (clock.now() + timedelta(hours=9)).date()
    assert (
        cli(
            "rights", "open", "c-1", "--kind", "deletion", "--received-on", today.isoformat()
        ).exit_code
        == 1
    )  # a typo: never a request about no one
    assert (
        cli(
            "rights",
            "open",
            "C-1",
            "--kind",
            "deletion",
            "--received-on",
            (today + timedelta(days=2)).isoformat(),
        ).exit_code
        == 1
    )  # not in the future
    assert (
        cli(
            "rights", "open", "C-1", "--kind", "erase", "--received-on", today.isoformat()
        ).exit_code
        == 2
    )
    opened = _open(cli, "C-1", "deletion", today.isoformat())
    wrong = cli("customers", "erase", "C-2", "--request", opened["id"])
    assert wrong.exit_code == 1 and "is about customer 'C-1'" in wrong.output
    with world["runtime"].transaction() as session:  # refused: nothing erased
        from gateway.customers.models import Customer

        assert session.get(Customer, "C-2") is not None
    assert cli("customers", "erase", "C-1", "--request", opened["id"]).exit_code == 0
    assert cli("rights", "close", opened["id"], "--outcome", "maybe", "--note", "x").exit_code == 2
    assert cli("rights", "close", opened["id"], "--outcome", "done", "--note", " ").exit_code == 1
    assert (
        cli("rights", "close", opened["id"], "--outcome", "done", "--note", "erased").exit_code == 0
    )
    again = cli("rights", "close", opened["id"], "--outcome", "done", "--note", "again")
    assert again.exit_code == 1 and "already closed" in again.output
    assert cli("customers", "stop-use", "C-3", "--request", opened["id"]).exit_code == 1  # closed


def test_an_ended_reseller_is_listed_until_its_destruction_is_recorded(world, cli, app, tmp_path):

    assert cli("partners", "destruction", "acme", "--confirmed-on", "2026-04-01").exit_code == 1
    assert cli("partners", "revoke", "acme", "--reason", "contract ended").exit_code == 0
    certificate = tmp_path / "certificate.pdf"
    certificate.write_bytes(b"%PDF certificate of destruction")
    from gateway.partners.service import ended_without_destruction

    with world["runtime"].reading() as session:
        assert [e["id"] for e in ended_without_destruction(session, world["runtime"].clock)] == [
            "acme"
        ]
    result = cli(
        "partners",
        "destruction",
        "acme",
        "--confirmed-on",
        "2026-04-01",
        "--document",
        str(certificate),
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["document_sha256"]) == 64
    with world["runtime"].reading() as session:
        assert ended_without_destruction(session, world["runtime"].clock) == []
