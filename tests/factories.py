"""Factories for test data; each call makes fresh rows through the real services."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from gateway.audit.spine import Actor, ActorKind
from gateway.clock import Clock, today
from gateway.partners import service as partners
from gateway.partners.models import Partner

OPERATOR = Actor(ActorKind.OPERATOR, "test-operator")


def partner(
    session: Session,
    clock: Clock,
    partner_id: str = "acme",
    *,
    name: str = "Acme Sales K.K.",
    nda: tuple[date, date] | None = None,
    with_nda: bool = True,
) -> Partner:
    """A reseller, by default with an NDA in force from a month ago to a year ahead."""
    created = partners.add_partner(session, clock, OPERATOR, partner_id=partner_id, name=name)
    if with_nda:
        day = today(clock)
        signed_on, expires_on = nda or (day - timedelta(days=30), day + timedelta(days=365))
        partners.record_nda(
            session, clock, OPERATOR, partner_id=partner_id,
            reference=f"NDA-{partner_id}", signed_on=signed_on, expires_on=expires_on,
        )  # fmt: skip
    return created
