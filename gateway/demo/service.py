"""Demo data: a few resellers in each state the gateway distinguishes. Idempotent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from gateway.audit.spine import Actor, ActorKind
from gateway.clock import Clock, today
from gateway.partners import service as partners
from gateway.partners.models import Partner

DEMO_ACTOR = Actor(ActorKind.SYSTEM, "demo")


def seed(session: Session, clock: Clock) -> list[str]:
    """Create the demo resellers that are missing; returns the ids created."""
    day = today(clock)
    created = []
    demo = (
        (
            "demo-reseller",
            "Demo Reseller K.K.",
            day - timedelta(days=30),
            day + timedelta(days=335),
            False,
        ),
        (
            "lapsed-reseller",
            "Lapsed Reseller K.K.",
            day - timedelta(days=400),
            day - timedelta(days=35),
            False,
        ),
        (
            "revoked-reseller",
            "Revoked Reseller K.K.",
            day - timedelta(days=60),
            day + timedelta(days=300),
            True,
        ),
    )
    for partner_id, name, signed_on, expires_on, revoked in demo:
        if session.get(Partner, partner_id) is not None:
            continue
        partners.add_partner(session, clock, DEMO_ACTOR, partner_id=partner_id, name=name)
        partners.record_nda(
            session,
            clock,
            DEMO_ACTOR,
            partner_id=partner_id,
            reference=f"NDA-{partner_id.upper()}",
            signed_on=signed_on,
            expires_on=expires_on,
        )
        if revoked:
            partners.revoke_partner(
                session, clock, DEMO_ACTOR, partner_id=partner_id, reason="demo: contract ended"
            )
        created.append(partner_id)
    return created
