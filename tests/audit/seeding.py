"""Reseller requests seeded straight through the audit spine, in the vocabulary the data
side writes (``gateway.audit.spine``): the desk's tools read them before that side exists."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from gateway.audit.spine import Actor, ActorKind, Event, Outcome, Subject, record
from gateway.clock import FixedClock

ALLOWLIST = "2022-04-01"
CONTACT = ("customer_id", "updated_at", "name", "email", "phone")


def at(text_: str) -> datetime:
    return datetime.fromisoformat(text_.replace("Z", "+00:00")).astimezone(UTC)


def move(clock: FixedClock, moment: str | datetime) -> None:
    target = at(moment) if isinstance(moment, str) else moment
    clock.advance(target - clock.now())


def request(
    session,
    clock: FixedClock,
    *,
    partner: str = "acme",
    client: str | None = None,
    customers: tuple[str, ...] = ("C-1",),
    action: str = "customers.read",
    items: tuple[str, ...] = CONTACT,
    purpose: str | None = "inquiry_response",
    rule: str | None = None,
    when: str | datetime | None = None,
):
    """One reseller data request: allowed with the items disclosed, or denied by ``rule``."""
    if when is not None:
        move(clock, when)
    subjects = [Subject("partner", partner), Subject("client", client or f"{partner}-client")]
    subjects += [Subject("customer", customer) for customer in customers]
    return record(
        session,
        Event(
            action=action,
            actor=Actor(ActorKind.CLIENT, client or f"{partner}-client"),
            outcome=Outcome.DENIED if rule else Outcome.ALLOWED,
            rule=rule,
            subjects=tuple(subjects),
            purpose=purpose,
            items=() if rule else items,
            allowlist_version=ALLOWLIST,
            request_id=None,
        ),
        clock=clock,
    )


def drop_append_only_triggers(session) -> None:
    """What an intruder with the database owner's rights could do first."""
    tables = ("audit_entries", "audit_subjects", "audit_checkpoints")
    if session.get_bind().dialect.name == "postgresql":
        for table in tables:
            session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        return
    for table in tables:
        for verb in ("update", "delete"):
            session.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
