"""What operators do to customers beyond importing them: stop of use and its undo.

When a customer is withheld from resellers
-------------------------------------------
A customer is **withheld** — shared with no reseller, whatever its designations — when either:

- the customer asked the company to stop using their data (clause 22, paragraph 6: 利用の停止).
  ``gateway customers stop-use ID`` records it; ``resume-use`` lifts it when the customer
  withdraws the request. Both take effect at the commit, for every reseller at once; or
- **the customer's contract ended**: ``contract.usage_status`` is ``cancelled`` or
  ``terminated``. Paragraph 3 allows joint use only "to answer the customer's requests and
  inquiries quickly, or to make necessary contact about the service"; once the contract has
  ended there is no service to contact them about and no reseller-handled inquiry to answer.
  Paragraph 2(3) lets the *company* keep data for the withdrawal (退会) process after a
  cancellation — it says nothing of resellers, so the gateway gives them no grace period.
  ``suspended`` (the contract still runs) and ``trial`` stay shareable. A re-import with an
  active status makes the customer shareable again.

The rule is decided here, from stored facts, and read by :mod:`gateway.sharing`.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from gateway.audit.spine import Actor, Event, Subject, record
from gateway.clock import Clock, isoformat
from gateway.customers.models import Customer
from gateway.designations import sync_key
from gateway.designations.models import Designation
from gateway.errors import Conflict, NotFound
from gateway.removals import service as removals
from gateway.removals.models import STOP_USE

# contract.usage_status values meaning the contract ended (see the module docstring).
CONTRACT_ENDED = frozenset({"cancelled", "terminated"})


def contract_ended(content: dict) -> bool:
    contract = content.get("contract") or {}
    return contract.get("usage_status") in CONTRACT_ENDED


def get_customer(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id!r}")
    return customer


def stop_use(
    session: Session, clock: Clock, actor: Actor, *, customer_id: str, request_id: str | None = None
) -> Customer:
    """Paragraph 6: withhold the customer from every reseller, from this commit on."""
    customer = get_customer(session, customer_id)
    if customer.stop_use:
        raise Conflict(f"use of customer {customer_id!r} is already stopped")
    customer.stop_use = True
    customer.stop_use_at = isoformat(clock.now())
    _log(session, clock, actor, "customers.stop_use", customer_id, request_id)
    # Every reseller that received the customer learns of it (gateway.removals).
    removals.notify(session, clock, customer_id=customer_id, reason=STOP_USE,
                    request_id=request_id)  # fmt: skip
    return customer


def resume_use(
    session: Session, clock: Clock, actor: Actor, *, customer_id: str, request_id: str | None = None
) -> Customer:
    """Undo :func:`stop_use` (the customer withdrew the request)."""
    customer = get_customer(session, customer_id)
    if not customer.stop_use:
        raise Conflict(f"use of customer {customer_id!r} is not stopped")
    customer.stop_use = False
    customer.stop_use_at = None
    # The customer reappears to its resellers now: move their sync key so that an
    # incremental sync (updated_since) picks it up again.
    session.execute(
        update(Designation)
        .where(Designation.customer_id == customer_id)
        .values(changed_at=sync_key.stamp(session, clock))
    )
    _log(session, clock, actor, "customers.resume_use", customer_id, request_id)
    return customer


def _log(
    session: Session,
    clock: Clock,
    actor: Actor,
    action: str,
    customer_id: str,
    request_id: str | None,
) -> None:
    record(
        session,
        Event(
            action=action,
            actor=actor,
            subjects=(Subject("customer", customer_id),),
            request_id=request_id,
        ),
        clock=clock,
    )
