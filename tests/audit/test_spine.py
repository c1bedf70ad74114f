"""The audit spine: appends, the chain, atomicity with the event it logs, append-only storage."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DatabaseError

from gateway.audit.models import AuditEntry, AuditHead, AuditSubject
from gateway.audit.service import stored_entries, verify_stored_chain
from gateway.audit.spine import Actor, ActorKind, Event, Outcome, Subject, record
from gateway.errors import AuditUnavailable
from gateway.partners.models import Partner
from tests import factories

CLIENT = Actor(ActorKind.CLIENT, "client-1")


def _disclosure(**overrides) -> Event:
    fields = dict(
        action="customers.read",
        actor=CLIENT,
        subjects=(Subject("partner", "acme"), Subject("customer", "C-1")),
        purpose="inquiry_response",
        items=("name", "email"),
        allowlist_version="2022-04-01",
        request_id="req-0001",
    )
    fields.update(overrides)
    return Event(**fields)


def test_entries_are_numbered_and_chained_from_genesis(runtime, clock):
    with runtime.transaction() as session:
        first = record(session, _disclosure(), clock=clock)
        clock.advance(timedelta(seconds=1))
        second = record(session, _disclosure(request_id="req-0002"), clock=clock)

    assert (first.seq, second.seq) == (1, 2)
    with runtime.transaction() as session:
        rows = list(stored_entries(session))
        head = session.get(AuditHead, 1)
    assert rows[0]["prev_hash"] == "0" * 64
    assert rows[1]["prev_hash"] == first.entry_hash
    assert (head.seq, head.entry_hash) == (2, second.entry_hash)
    report = verify_stored_chain(runtime.sessions)
    assert report.intact and (report.head_seq, report.head_hash) == (2, second.entry_hash)


def test_entry_records_names_ids_purpose_and_version_but_no_values(runtime, clock):
    with runtime.transaction() as session:
        record(session, _disclosure(), clock=clock)
    with runtime.transaction() as session:
        entry = session.scalars(select(AuditEntry)).one()
        subjects = session.execute(select(AuditSubject.kind, AuditSubject.subject_id)).all()
    assert entry.at == "2026-04-01T09:00:00.000000Z"
    assert (entry.actor_kind, entry.actor_id, entry.outcome, entry.rule) == (
        "client",
        "client-1",
        "allowed",
        None,
    )
    assert json.loads(entry.items) == ["email", "name"]
    assert (entry.purpose, entry.allowlist_version) == ("inquiry_response", "2022-04-01")
    assert sorted(subjects) == [("customer", "C-1"), ("partner", "acme")]


def test_details_keep_their_types_and_the_chain_holds(runtime, clock):
    # True == 1 in Python, but an entry saying true must not be stored as 1, nor the reverse.
    values = (1, True, 1, "1", None, 0, False)
    with runtime.transaction() as session:
        for value in values:
            record(session, _disclosure(details={"count": value}), clock=clock)
    with runtime.transaction() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
        stored = [json.loads(entry.details)["count"] for entry in entries]
    assert [(v, type(v)) for v in stored] == [(v, type(v)) for v in values]
    assert verify_stored_chain(runtime.sessions).intact


def test_a_denial_records_the_rule_that_failed(runtime, clock):
    with runtime.transaction() as session:
        record(
            session,
            _disclosure(outcome=Outcome.DENIED, rule="nda_in_force", items=()),
            clock=clock,
        )
    with runtime.transaction() as session:
        entry = session.scalars(select(AuditEntry)).one()
    assert (entry.outcome, entry.rule, json.loads(entry.items)) == ("denied", "nda_in_force", [])


@pytest.mark.parametrize(
    "bad",
    [
        {"outcome": Outcome.DENIED},  # a denial without its rule
        {"rule": "nda_in_force"},  # a rule on an allowed event
        {"items": ("Taro Yamada",)},  # a value where an item name belongs
        {"action": "Customer Read"},
        {"action": "customer.read"},  # well-formed, but no action of the log: a typo
        {"details": {"nested": {"a": 1}}},
    ],
)
def test_malformed_events_are_refused_and_write_nothing(runtime, clock, bad):
    with pytest.raises(ValueError), runtime.transaction() as session:
        record(session, _disclosure(**bad), clock=clock)
    with runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_an_event_that_fails_after_logging_leaves_no_entry(runtime, clock):
    with pytest.raises(RuntimeError), runtime.transaction() as session:
        factories.partner(session, clock, "acme")
        raise RuntimeError("the operation failed after its entry was written")
    with runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
        assert session.get(Partner, "acme") is None


def test_when_the_log_cannot_be_written_the_event_does_not_happen(runtime, clock):
    with runtime.transaction() as session:
        session.execute(delete(AuditHead))  # the log's head is gone: appends must fail
    with pytest.raises(AuditUnavailable), runtime.transaction() as session:
        factories.partner(session, clock, "acme", with_nda=False)
    with runtime.transaction() as session:
        assert session.get(Partner, "acme") is None


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEntry).values(actor_id="someone-else"),
        delete(AuditEntry).where(AuditEntry.seq == 1),
        update(AuditSubject).values(subject_id="C-2"),
    ],
    ids=["update entry", "delete entry", "update subject"],
)
def test_the_database_refuses_to_change_or_remove_entries(runtime, clock, statement):
    with runtime.transaction() as session:
        record(session, _disclosure(), clock=clock)
    with pytest.raises(DatabaseError), runtime.transaction() as session:
        session.execute(statement)
    assert verify_stored_chain(runtime.sessions).intact


def _drop_append_only_triggers(session) -> None:
    """What an intruder with the database owner's rights could do first."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        session.execute(text("ALTER TABLE audit_subjects DISABLE TRIGGER USER"))
    else:
        for name in ("audit_entries_no_update", "audit_entries_no_delete"):
            session.execute(text(f"DROP TRIGGER {name}"))
        for name in ("audit_subjects_no_update", "audit_subjects_no_delete"):
            session.execute(text(f"DROP TRIGGER {name}"))


def _five_entries(runtime, clock) -> None:
    with runtime.transaction() as session:
        for n in range(5):
            record(session, _disclosure(request_id=f"req-{n:04d}"), clock=clock)
            clock.advance(timedelta(seconds=1))


def test_an_edited_entry_is_found(runtime, clock):
    _five_entries(runtime, clock)
    with runtime.transaction() as session:
        _drop_append_only_triggers(session)
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(purpose="marketing"))
    report = verify_stored_chain(runtime.sessions)
    assert (report.first_break.seq, report.first_break.kind) == (3, "altered")


def test_a_removed_middle_entry_is_found(runtime, clock):
    _five_entries(runtime, clock)
    with runtime.transaction() as session:
        _drop_append_only_triggers(session)
        session.execute(delete(AuditSubject).where(AuditSubject.seq == 2))
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    report = verify_stored_chain(runtime.sessions)
    assert (report.first_break.seq, report.first_break.kind) == (2, "gap")


def test_a_cut_off_tail_is_found(runtime, clock):
    _five_entries(runtime, clock)
    with runtime.transaction() as session:
        _drop_append_only_triggers(session)
        session.execute(delete(AuditSubject).where(AuditSubject.seq >= 4))
        session.execute(delete(AuditEntry).where(AuditEntry.seq >= 4))
    report = verify_stored_chain(runtime.sessions)
    assert (report.first_break.seq, report.first_break.kind) == (4, "tail-missing")


def test_verify_command_exits_zero_only_when_intact(cli, runtime, clock):
    cli("partners", "add", "acme", "--name", "Acme")
    cli("partners", "add", "bolt", "--name", "Bolt")
    ok = cli("audit", "verify", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["entries"] == 2

    with runtime.transaction() as session:
        _drop_append_only_triggers(session)
        session.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(actor_id="mallory"))
    broken = cli("audit", "verify")
    assert broken.exit_code == 1
    assert "NOT INTACT at entry 1 (altered)" in broken.stdout
