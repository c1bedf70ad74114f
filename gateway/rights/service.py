"""The rights register (paragraph 6): open a customer's request, link what was done to it,
see which resellers confirmed a removal, close it with its outcome. Every step is logged.

A request is due ``GATEWAY_RIGHTS_DUE_DAYS`` days (14) after it was received, in the company's
calendar; it is **overdue** when still open past that day, or when a removal done for it has an
event a reseller has not acknowledged past its erase-by day.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.audit.spine import Actor, Event, Subject, record
from gateway.audit.subjects import require_customer
from gateway.clock import Clock, isoformat
from gateway.config import Config
from gateway.designations.models import Designation
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.removals.models import RemovalEvent
from gateway.removals.service import erase_by
from gateway.rights.models import (
    CLOSED,
    KINDS,
    OPEN,
    OUTCOMES,
    RightsAction,
    RightsRequest,
)

MAX_TEXT = 1000
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on the phone


def _text(value: str | None, name: str, *, required: bool) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput(f"{name}: required")
        return None
    if len(text) > MAX_TEXT or any(ord(c) < 0x20 and c not in "\n\t" for c in text):
        raise InvalidInput(f"{name}: up to {MAX_TEXT} characters of text")
    return text


def open_request(
    session: Session,
    clock: Clock,
    config: Config,
    actor: Actor,
    *,
    customer_id: str,
    kind: str,
    received_on: date,
    reference: str | None = None,
    request_id: str | None = None,
) -> RightsRequest:
    """Record a customer's request as received; it is due ``rights_due_days`` later."""
    if kind not in KINDS:
        raise InvalidInput(f"kind: one of {', '.join(KINDS)}")
    today = clock.now().astimezone(config.zone).date()
    if received_on > today:
        raise InvalidInput("received on: not in the future")
    require_customer(session.connection(), customer_id)  # never a request about a typo
    opened = RightsRequest(
        id="R-" + "".join(secrets.choice(_ALPHABET) for _ in range(8)),
        customer_id=customer_id,
        kind=kind,
        received_on=received_on,
        due_on=received_on + timedelta(days=config.rights_due_days),
        reference=_text(reference, "reference", required=False),
        status=OPEN,
        opened_by=actor.id,
        opened_at=isoformat(clock.now()),
    )
    session.add(opened)
    _log(
        session,
        clock,
        actor,
        "rights.open",
        customer_id,
        opened.id,
        {
            "kind": kind,
            "received_on": received_on.isoformat(),
            "due_on": opened.due_on.isoformat(),
        },
        request_id,
    )
    return opened


def get_request(session: Session, request: str) -> RightsRequest:
    found = session.get(RightsRequest, request)
    if found is None:
        raise NotFound(f"no rights request {request!r}")
    return found


def link(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    request: str,
    customer_id: str | None,
    action: str,
    detail: str | None = None,
    request_id: str | None = None,
) -> RightsRequest:
    """Record that ``action`` was done for an open request (about that customer, when the
    action is about one). Called inside the action's own transaction: both or neither; logged
    (``rights.act``)."""
    found = get_request(session, request)
    if found.status != OPEN:
        raise Conflict(f"rights request {request} is closed")
    if customer_id is not None and found.customer_id != customer_id:
        raise Conflict(f"rights request {request} is about customer {found.customer_id!r}")
    session.add(
        RightsAction(
            request_id=found.id,
            action=action,
            detail=detail,
            at=isoformat(clock.now()),
            by=actor.id,
        )
    )
    _log(
        session,
        clock,
        actor,
        "rights.act",
        found.customer_id,
        found.id,
        {"action": action},
        request_id,
    )
    return found


def close_request(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    request: str,
    outcome: str,
    note: str,
    request_id: str | None = None,
) -> RightsRequest:
    found = get_request(session, request)
    if found.status != OPEN:
        raise Conflict(f"rights request {request} is already closed")
    if outcome not in OUTCOMES:
        raise InvalidInput(f"outcome: one of {', '.join(OUTCOMES)}")
    found.note = _text(note, "note", required=True)
    found.status, found.outcome = CLOSED, outcome
    found.closed_by, found.closed_at = actor.id, isoformat(clock.now())
    _log(
        session,
        clock,
        actor,
        "rights.close",
        found.customer_id,
        found.id,
        {"outcome": outcome},
        request_id,
    )
    return found


def _log(session: Session, clock: Clock, actor: Actor, action: str, customer_id: str,
         request: str, details: dict[str, Any], request_id: str | None) -> None:  # fmt: skip
    """A step of a request, in the access log: about the customer and the request."""
    record(
        session,
        Event(
            action=action,
            actor=actor,
            request_id=request_id,
            details=details,
            subjects=(Subject("customer", customer_id), Subject("request", request)),
        ),
        clock=clock,
    )


@dataclass
class RequestView:
    request: RightsRequest
    actions: list[RightsAction]
    removals: list[dict[str, Any]]  # per reseller told of a removal: confirmed or not
    overdue: bool

    def as_dict(self) -> dict[str, Any]:
        r = self.request
        return {
            "id": r.id,
            "customer_id": r.customer_id,
            "kind": r.kind,
            "received_on": r.received_on.isoformat(),
            "due_on": r.due_on.isoformat(),
            "reference": r.reference,
            "status": r.status,
            "outcome": r.outcome,
            "note": r.note,
            "opened_by": r.opened_by,
            "closed_by": r.closed_by,
            "closed_at": r.closed_at,
            "overdue": self.overdue,
            "actions": [
                {"action": a.action, "detail": a.detail, "at": a.at, "by": a.by}
                for a in self.actions
            ],
            "removals": self.removals,
        }


def register(
    session: Session,
    clock: Clock,
    config: Config,
    *,
    only_open: bool = False,
    only_overdue: bool = False,
    request: str | None = None,
) -> list[RequestView]:
    """The register, newest received first, each request with its actions and, for the
    removals done for it, each reseller told and whether it confirmed."""
    today = clock.now().astimezone(config.zone).date()
    query = select(RightsRequest).order_by(RightsRequest.received_on.desc(), RightsRequest.id)
    if request is not None:
        query = query.where(RightsRequest.id == request)
    if only_open or only_overdue:
        query = query.where(RightsRequest.status == OPEN)
    views = []
    for found in session.scalars(query):
        actions = list(
            session.scalars(
                select(RightsAction)
                .where(RightsAction.request_id == found.id)
                .order_by(RightsAction.id)
            )
        )
        removals = _removals(session, found, actions, config, today)
        overdue = found.status == OPEN and (
            found.due_on < today or any(r["overdue"] for r in removals)
        )
        if only_overdue and not overdue:
            continue
        views.append(RequestView(found, actions, removals, overdue))
    return views


_REMOVING = {"stop_use": "stop_use", "erase": "erased", "withdraw": "designation_withdrawn"}


def _removals(
    session: Session, found: RightsRequest, actions: list[RightsAction], config: Config, today: date
) -> list[dict[str, Any]]:
    """The removal events made by this request's actions: one a reseller told."""
    reasons = {_REMOVING[a.action] for a in actions if a.action in _REMOVING}
    if not reasons:
        return []
    since = min(a.at for a in actions if a.action in _REMOVING)
    events = session.scalars(
        select(RemovalEvent)
        .where(
            RemovalEvent.customer_id == found.customer_id,
            RemovalEvent.reason.in_(reasons),
            RemovalEvent.effective_at >= since,
        )
        .order_by(RemovalEvent.partner_id)
    )
    views = []
    for event in events:
        due = erase_by(event.effective_at, config.zone, config.removal_due_days)
        views.append(
            {
                "partner_id": event.partner_id,
                "reason": event.reason,
                "confirmed_at": event.acked_at,
                "erase_by": due.isoformat(),
                "overdue": event.acked_at is None and due < today,
            }
        )
    return views


def designated_resellers(session: Session, customer_id: str) -> list[str]:
    """The resellers the customer designates now (those a withdrawal can concern)."""
    return list(
        session.scalars(
            select(Designation.partner_id)
            .where(Designation.customer_id == customer_id, Designation.withdrawn_on.is_(None))
            .order_by(Designation.partner_id)
        )
    )
