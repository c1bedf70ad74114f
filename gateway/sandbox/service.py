"""What the sandbox does: make its generated customers, and change them over time.

Every change goes through the services production uses — the customer import door, the
designation, stop-of-use and erasure services — so the access log, the resellers' sync keys
(``updated_at``, the designations' ``changed_at``) and the removal events behave exactly as
they do for real customers. The generator acts as the company's customer system would: an
import of changed and new records, designations, and removals.

**A tick** (:func:`tick`) is one batch of changes: of ``changes``, about a fifth are new
customers (designating every active sandbox reseller), about a fifth removals, the rest
content updates of customers the sandbox resellers can see. A removal is, in turn, a stop of
use, a designation withdrawn, a contract ended (by the import), or — rarely — an erasure;
each becomes a removal event for every sandbox reseller that received the customer
(:mod:`gateway.removals`).

**Deterministic, yet advancing**: a tick's random generator is seeded from the sandbox's
current state (its generated customers' ids, content hashes and states, and their
designations). The same state gives the same batch — a test, or two gateways loaded alike,
see the same changes — and each tick changes the state, so the next one differs.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from random import Random
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway import allowlist
from gateway.audit.spine import Actor, ActorKind
from gateway.clock import Clock, today
from gateway.customers import erasure
from gateway.customers import service as customers
from gateway.customers.importer import import_customers
from gateway.customers.models import Customer, ErasedCustomer
from gateway.designations import service as designations
from gateway.designations.models import Designation
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.partners.models import ACTIVE, Partner
from gateway.removals.models import (
    CONTRACT_ENDED,
    DESIGNATION_WITHDRAWN,
    ERASED,
    STOP_USE,
    RemovalEvent,
)
from gateway.sandbox import CUSTOMER_PREFIX, is_generated
from gateway.sandbox.generator import changed, ended, new_customer

SANDBOX_ACTOR = Actor(ActorKind.SYSTEM, "sandbox")
POPULATION = 300  # generated customers made for a new sandbox reseller
DEFAULT_CHANGES = 10
MAX_CHANGES = 1000
# How a removed customer leaves; an erasure is the rarest, as in life.
_REMOVALS = (STOP_USE, DESIGNATION_WITHDRAWN, CONTRACT_ENDED, ERASED)
_REMOVAL_WEIGHTS = (3, 3, 3, 1)


@dataclass
class TickSummary:
    """What one tick did: the customers updated (with what changed), made and removed (with
    how), and the removal events that made for sandbox resellers. Ids only."""

    updated: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    removed: dict[str, str] = field(default_factory=dict)
    removal_events: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"updated": dict(sorted(self.updated.items())), "created": self.created,
                "removed": dict(sorted(self.removed.items())),
                "removal_events": self.removal_events}  # fmt: skip

    def line(self) -> str:
        reasons: dict[str, int] = {}
        for reason in self.removed.values():
            reasons[reason] = reasons.get(reason, 0) + 1
        how = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
        return (
            f"sandbox tick: {len(self.updated)} customers updated, {len(self.created)} new, "
            f"{len(self.removed)} removed" + (f" ({how})" if how else "")
            + f"; {self.removal_events} removal events for sandbox resellers"
        )  # fmt: skip


def seed_customers(session: Session, clock: Clock, actor: Actor, *, partner_id: str,
                   count: int = POPULATION, request_id: str | None = None) -> int:  # fmt: skip
    """Make ``count`` generated customers designating the sandbox reseller ``partner_id``,
    unless the sandbox already has generated customers (then nothing: idempotent). Returns
    how many were made."""
    _sandbox_partner(session, partner_id)
    if _generated_ids(session) or _erased_ids(session):
        return 0
    day = today(clock)
    records = [new_customer(number, day) for number in range(1, count + 1)]
    _import(session, clock, actor, records, request_id)
    # As the company's system exports designations: one file, one log entry.
    since = (day - timedelta(days=30)).isoformat()
    lines = [{"customer_id": r["customer_id"], "partner_id": partner_id, "designated_on": since}
             for r in records]  # fmt: skip
    designations.import_designations(session, clock, actor, _jsonl(lines), request_id=request_id)
    return count


def tick(session: Session, clock: Clock, actor: Actor, *, changes: int = DEFAULT_CHANGES,
         request_id: str | None = None) -> TickSummary:  # fmt: skip
    """Apply one batch of ``changes`` to the sandbox, in the caller's transaction (see the
    module docstring)."""
    if isinstance(changes, bool) or not 1 <= changes <= MAX_CHANGES:
        raise InvalidInput(f"changes: from 1 to {MAX_CHANGES}")
    partners = list(session.scalars(
        select(Partner.id).where(Partner.sandbox.is_(True), Partner.status == ACTIVE)
        .order_by(Partner.id)
    ))  # fmt: skip
    if not partners:
        raise Conflict("no active sandbox reseller: run 'gateway demo', or "
                       "'gateway partners add ID --name N --sandbox'")  # fmt: skip
    rng = Random(_state_seed(session))  # noqa: S311 - made-up data, not a secret
    now = clock.now()
    new_count = removal_count = changes // 5 if changes >= 5 else int(changes >= 3)
    live = _visible(session)
    chosen = rng.sample(live, min(len(live), changes - new_count))
    removing, updating = chosen[:removal_count], chosen[removal_count:]
    reasons = {c: rng.choices(_REMOVALS, weights=_REMOVAL_WEIGHTS)[0] for c in removing}

    summary = TickSummary()
    records = []
    for customer in updating:
        record, what = changed(_stored(session, customer), rng, now)
        records.append(record)
        summary.updated[customer] = what
    for customer in removing:
        if reasons[customer] == CONTRACT_ENDED:  # the import ends it, and notifies
            records.append(ended(_stored(session, customer), rng))
    first = _next_number(session)
    made = [new_customer(number, today(clock)) for number in range(first, first + new_count)]
    records.extend(made)
    events_before = _removal_events(session, removing)
    if records:
        _import(session, clock, actor, records, request_id)
    for record in made:
        for partner_id in partners:
            designations.add_designation(session, clock, actor, customer_id=record["customer_id"],
                                         partner_id=partner_id, request_id=request_id)  # fmt: skip
        summary.created.append(record["customer_id"])
    for customer in removing:
        _remove(session, clock, actor, customer, reasons[customer], rng, request_id)
        summary.removed[customer] = reasons[customer]
    summary.removal_events = _removal_events(session, removing) - events_before
    return summary


def _remove(session: Session, clock: Clock, actor: Actor, customer: str, reason: str,
            rng: Random, request_id: str | None) -> None:  # fmt: skip
    if reason == STOP_USE:
        customers.stop_use(session, clock, actor, customer_id=customer, request_id=request_id)
    elif reason == DESIGNATION_WITHDRAWN:
        partner_id = rng.choice(_active_sandbox_designations(session, customer))
        designations.withdraw_designation(session, clock, actor, customer_id=customer,
                                          partner_id=partner_id, request_id=request_id)  # fmt: skip
    elif reason == ERASED:
        erasure.erase(session, clock, actor, customer_id=customer, request_id=request_id)
    # CONTRACT_ENDED: done by the import


def _sandbox_partner(session: Session, partner_id: str) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(f"no partner {partner_id!r}")
    if not partner.sandbox:
        raise Conflict(f"partner {partner_id!r} is not a sandbox reseller")
    return partner


def _generated_ids(session: Session) -> list[str]:
    ids = session.scalars(select(Customer.customer_id)
                          .where(Customer.customer_id.startswith(CUSTOMER_PREFIX)))  # fmt: skip
    return sorted(i for i in ids if is_generated(i))


def _erased_ids(session: Session) -> list[str]:
    erased = ErasedCustomer.customer_id
    ids = session.scalars(select(erased).where(erased.startswith(CUSTOMER_PREFIX)))
    return sorted(i for i in ids if is_generated(i))


def _sandbox_designations(session: Session) -> list[tuple[str, str, Any, Any]]:
    rows = session.execute(
        select(Designation.customer_id, Designation.partner_id, Designation.designated_on,
               Designation.withdrawn_on)
        .join(Partner, Partner.id == Designation.partner_id)
        .where(Partner.sandbox.is_(True))
    )  # fmt: skip
    return sorted(rows, key=lambda row: (row[0], row[1]))  # the same order on every database


def _visible(session: Session) -> list[str]:
    """Generated customers a sandbox reseller can see now: not withheld, designating one."""
    designated = {c for c, _, _, withdrawn in _sandbox_designations(session) if withdrawn is None}
    rows = session.execute(
        select(Customer.customer_id)
        .where(Customer.customer_id.startswith(CUSTOMER_PREFIX))
        .where(Customer.stop_use.is_(False), Customer.contract_ended.is_(False))
    ).scalars()  # fmt: skip
    return sorted(c for c in rows if c in designated and is_generated(c))


def _active_sandbox_designations(session: Session, customer: str) -> list[str]:
    return [p for c, p, _, withdrawn in _sandbox_designations(session)
            if c == customer and withdrawn is None]  # fmt: skip


def _state_seed(session: Session) -> int:
    """The sandbox's state as a number: its generated customers (id, content hash, stop of
    use), their designations of sandbox resellers, and the erased ones."""
    digest = hashlib.sha256()
    rows = session.execute(
        select(Customer.customer_id, Customer.content_hash, Customer.stop_use)
        .where(Customer.customer_id.startswith(CUSTOMER_PREFIX))
    )  # fmt: skip
    for row in sorted(rows):
        digest.update(repr(tuple(row)).encode())
    for row in _sandbox_designations(session):
        digest.update(repr(tuple(str(v) for v in row)).encode())
    for erased in _erased_ids(session):
        digest.update(erased.encode())
    return int.from_bytes(digest.digest()[:8], "big")


def _next_number(session: Session) -> int:
    """The number after the highest generated customer ever made (erased ones included)."""
    numbers = [int(i[len(CUSTOMER_PREFIX):]) for i in _generated_ids(session) + _erased_ids(session)
               if i[len(CUSTOMER_PREFIX):].isdigit()]  # fmt: skip
    return max(numbers, default=0) + 1


def _stored(session: Session, customer: str) -> dict[str, Any]:
    """A generated customer's stored content, as a source record again."""
    row = session.get(Customer, customer)
    assert row is not None
    return {"customer_id": customer, **json.loads(row.content)}


def _removal_events(session: Session, customers_: Iterable[str]) -> int:
    ids = list(customers_)
    if not ids:
        return 0
    return (
        session.scalar(
            select(func.count()).select_from(RemovalEvent).where(RemovalEvent.customer_id.in_(ids))
        )
        or 0
    )


def _import(session: Session, clock: Clock, actor: Actor, records: list[dict[str, Any]],
            request_id: str | None) -> None:  # fmt: skip
    import_customers(session, clock, actor, _jsonl(records), allowlist=allowlist.current(),
                     request_id=request_id, generated=True)  # fmt: skip


def _jsonl(lines: Iterable[dict[str, Any]]) -> io.BytesIO:
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    return io.BytesIO(text.encode())
