"""Carrying a customer's removal to every reseller that received their data.

When a customer leaves a reseller's view — stop of use, designation withdrawn, contract ended,
erasure — an incremental sync (``updated_since``) simply stops showing them, and the reseller's
copy would live on. So the removal becomes an event for each reseller the access log shows
received any of the customer's items (a reseller that never received the customer gets none),
made in the same transaction as the change and logged with it (``removal.notify``).

The reseller polls its events (RFC 8936, :mod:`gateway.removals.views`) and acknowledges each:
an acknowledgement is its statement that its copy is deleted (for a stop of use: no longer
used). An event not acknowledged within ``GATEWAY_REMOVAL_DUE_DAYS`` days of its removal (the
company's calendar) is overdue: the desk sees it (``gateway partners pending-removals``, the
console, the anomalies).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, bindparam, select, update
from sqlalchemy.orm import Session, aliased

from gateway.audit.actions import DATA_ACTIONS
from gateway.audit.models import AuditEntry, AuditSubject
from gateway.audit.spine import Actor, ActorKind, Event, Subject, record
from gateway.clock import Clock, isoformat
from gateway.db import Prepared
from gateway.partners.models import Partner
from gateway.removals.models import REASONS, RemovalEvent

EVENT_TYPE = "urn:joint-use-gateway:event:customer-removed"
SYSTEM = Actor(ActorKind.SYSTEM, "removals")
_INSTANT = "%Y-%m-%dT%H:%M:%S.%fZ"


def recipients(session: Session | Connection, customer_id: str) -> list[str]:
    """The registered resellers the access log shows received any of the customer's items."""
    about, partner = aliased(AuditSubject), aliased(AuditSubject)
    received = (
        select(partner.subject_id)
        .distinct()
        .select_from(about)
        .join(AuditEntry, AuditEntry.seq == about.seq)
        .join(partner, and_(partner.seq == about.seq, partner.kind == "partner"))
        .join(Partner, Partner.id == partner.subject_id)
        .where(about.kind == "customer", about.subject_id == customer_id)
        .where(AuditEntry.action.in_(DATA_ACTIONS), AuditEntry.outcome == "allowed")
    )
    return sorted(session.scalars(received))


def notify(
    session: Session,
    clock: Clock,
    *,
    customer_id: str,
    reason: str,
    only: Iterable[str] | None = None,
    request_id: str | None = None,
) -> list[RemovalEvent]:
    """One removal event for each reseller that received the customer (``only``: of those,
    these resellers — a designation withdrawn concerns its reseller alone)."""
    if reason not in REASONS:
        raise ValueError(f"unknown removal reason {reason!r}")
    concerned = recipients(session, customer_id)
    if only is not None:
        wanted = set(only)
        concerned = [p for p in concerned if p in wanted]
    now = isoformat(clock.now())
    made = [
        RemovalEvent(jti=secrets.token_urlsafe(24), partner_id=partner_id,
                     customer_id=customer_id, reason=reason, effective_at=now)
        for partner_id in concerned
    ]  # fmt: skip
    if made:
        session.add_all(made)
        record(
            session,
            Event(
                action="removal.notify",
                actor=SYSTEM,
                subjects=(Subject("customer", customer_id),)
                + tuple(Subject("partner", p) for p in concerned),
                request_id=request_id,
                details={"reason": reason, "events": len(made)},
            ),
            clock=clock,
        )
    return made


def erase_by(effective_at: str, zone: ZoneInfo, due_days: int) -> date:
    """The day by which the reseller must have deleted its copy: the removal's day in the
    company's calendar, plus the due days."""
    moment = datetime.strptime(effective_at, _INSTANT).replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(zone).date() + timedelta(days=due_days)


@dataclass(frozen=True)
class Pending:
    jti: str
    partner_id: str
    customer_id: str
    reason: str
    effective_at: str
    erase_by: date
    error: str | None

    def overdue(self, today: date) -> bool:
        return self.erase_by < today

    def as_dict(self, today: date) -> dict[str, Any]:
        return {"jti": self.jti, "partner_id": self.partner_id, "customer_id": self.customer_id,
                "reason": self.reason, "effective_at": self.effective_at,
                "erase_by": self.erase_by.isoformat(), "overdue": self.overdue(today),
                "error": self.error}  # fmt: skip


def pending(connection: Session | Connection, zone: ZoneInfo, due_days: int, *,
            partner_id: str | None = None) -> list[Pending]:  # fmt: skip
    """Events not acknowledged yet (all resellers', or ``partner_id``'s), oldest first."""
    query = select(RemovalEvent).where(RemovalEvent.acked_at.is_(None))
    if partner_id is not None:
        query = query.where(RemovalEvent.partner_id == partner_id)
    query = query.order_by(RemovalEvent.effective_at, RemovalEvent.jti)
    rows = connection.execute(query.with_only_columns(*_PENDING_COLUMNS)).all()
    return [_pending(row, zone, due_days) for row in rows]


def waiting(connection: Any, partner_id: str, limit: int, zone: ZoneInfo,
            due_days: int) -> list[Pending]:  # fmt: skip
    """A reseller's events not acknowledged yet, oldest first, at most ``limit`` — for its
    poll, on the partner API's raw read snapshot."""
    rows = _WAITING.all(connection, {"partner": partner_id, "limit": limit})
    return [_pending(row, zone, due_days) for row in rows]


def _pending(row: Any, zone: ZoneInfo, due_days: int) -> Pending:
    jti, partner_id, customer_id, reason, effective_at, error = row
    return Pending(jti, partner_id, customer_id, reason, effective_at,
                   erase_by(effective_at, zone, due_days), error)  # fmt: skip


def set_claims(event: Pending, issuer: str, now: int) -> dict[str, Any]:
    """The SET (RFC 8417 §2.2) of one removal: one event, about one customer."""
    return {
        "iss": issuer,
        "aud": event.partner_id,
        "iat": now,
        "jti": event.jti,
        "events": {
            EVENT_TYPE: {
                "customer_id": event.customer_id,
                "reason": event.reason,
                "effective_at": event.effective_at,
                "erase_by": event.erase_by.isoformat(),
            }
        },
    }


_EVENTS = RemovalEvent.__table__
_PENDING_COLUMNS = (_EVENTS.c.jti, _EVENTS.c.partner_id, _EVENTS.c.customer_id, _EVENTS.c.reason,
                    _EVENTS.c.effective_at, _EVENTS.c.error)  # fmt: skip
_WAITING = Prepared(
    select(*_PENDING_COLUMNS)
    .where(_EVENTS.c.partner_id == bindparam("partner"), _EVENTS.c.acked_at.is_(None))
    .order_by(_EVENTS.c.effective_at, _EVENTS.c.jti)
    .limit(bindparam("limit"))
)
# Used by a poll's commit: a reseller acknowledges only its own events, once.
ACKNOWLEDGE = Prepared(
    update(_EVENTS)
    .where(_EVENTS.c.jti == bindparam("event_jti"), _EVENTS.c.partner_id == bindparam("partner"),
           _EVENTS.c.acked_at.is_(None))
    .values(acked_at=bindparam("at"), acked_by=bindparam("client"))
)  # fmt: skip
RECORD_ERROR = Prepared(
    update(_EVENTS)
    .where(_EVENTS.c.jti == bindparam("event_jti"), _EVENTS.c.partner_id == bindparam("partner"))
    .values(error=bindparam("error"))
)  # fmt: skip
