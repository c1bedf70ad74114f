"""What the company's operators do to resellers: register them, record NDAs, revoke them.

Each function takes a session and a clock, changes the store, and records the operator's
action through the audit spine in the same transaction.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.audit.spine import Actor, Event, Subject, record
from gateway.clock import Clock, isoformat, today
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.partners.models import ACTIVE, REVOKED, DestructionRecord, Nda, Partner
from gateway.partners.schemas import (
    LimitsInput,
    NdaInput,
    PartnerInput,
    PartnerOutput,
    RevocationInput,
)
from gateway.validation import load


def get_partner(session: Session, partner_id: str) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(f"no partner {partner_id!r}")
    return partner


def add_partner(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    partner_id: str,
    name: str,
    sandbox: bool = False,
    request_id: str | None = None,
) -> Partner:
    """Register a reseller; ``sandbox``: one whose traffic is test traffic, designated only by
    generated customers (:mod:`gateway.sandbox`). Which kind it is is fixed here, once."""
    data = load(PartnerInput(), {"id": partner_id, "name": name})
    if session.get(Partner, data["id"]) is not None:
        raise Conflict(f"partner {data['id']!r} already exists")
    partner = Partner(
        id=data["id"], name=data["name"], status=ACTIVE, created_at=isoformat(clock.now()),
        sandbox=sandbox,
    )  # fmt: skip
    session.add(partner)
    record(
        session,
        Event(
            action="partner.add",
            actor=actor,
            subjects=(Subject("partner", partner.id),),
            request_id=request_id,
            details={"sandbox": True} if sandbox else {},
        ),
        clock=clock,
    )
    return partner


def record_nda(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    partner_id: str,
    reference: str,
    signed_on: date | str,
    expires_on: date | str,
    document_sha256: str | None = None,
    request_id: str | None = None,
) -> Nda:
    data = load(
        NdaInput(),
        {
            "reference": reference,
            "signed_on": str(signed_on),
            "expires_on": str(expires_on),
            "document_sha256": document_sha256,
        },
    )
    partner = get_partner(session, partner_id)
    if any(nda.reference == data["reference"] for nda in partner.ndas):
        raise Conflict(f"partner {partner.id!r} already has an NDA {data['reference']!r}")
    nda = Nda(partner=partner, recorded_at=isoformat(clock.now()), **data)
    session.add(nda)
    record(
        session,
        Event(
            action="partner.nda",
            actor=actor,
            subjects=(Subject("partner", partner.id),),
            request_id=request_id,
            details={
                "reference": nda.reference,
                "signed_on": nda.signed_on.isoformat(),
                "expires_on": nda.expires_on.isoformat(),
            },
        ),
        clock=clock,
    )
    return nda


def revoke_partner(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    partner_id: str,
    reason: str,
    request_id: str | None = None,
) -> Partner:
    """Stop a reseller's access at once (contract ended, NDA lapsed, suspected leak).

    The status is read live by every access decision, so the commit of this transaction is
    the moment access ends everywhere.
    """
    data = load(RevocationInput(), {"reason": reason})
    partner = get_partner(session, partner_id)
    if partner.status == REVOKED:
        raise Conflict(f"partner {partner.id!r} is already revoked")
    partner.status = REVOKED
    partner.revoked_at = isoformat(clock.now())
    partner.revoke_reason = data["reason"]
    from gateway.oauth.clients import cut_off_partner  # the door depends on partners, not back

    cut_off = cut_off_partner(session, clock, partner.id)
    record(
        session,
        Event(
            action="partner.revoke",
            actor=actor,
            subjects=(Subject("partner", partner.id),),
            request_id=request_id,
            details={"reason": data["reason"], **cut_off},
        ),
        clock=clock,
    )
    return partner


def set_limits(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    partner_id: str,
    per_minute: int | None,
    request_id: str | None = None,
) -> Partner:
    """Give a reseller its own limit on partner-API requests, per client and minute (``None``:
    back to the gateway's default). It holds from the reseller's next request."""
    data = load(LimitsInput(), {"per_minute": per_minute})
    partner = get_partner(session, partner_id)
    partner.rate_limit_per_minute = data["per_minute"]
    record(
        session,
        Event(
            action="partner.limits",
            actor=actor,
            subjects=(Subject("partner", partner.id),),
            request_id=request_id,
            details={"per_minute": data["per_minute"]},
        ),
        clock=clock,
    )
    return partner


def record_destruction(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    partner_id: str,
    confirmed_on: date,
    document_sha256: str | None = None,
    request_id: str | None = None,
) -> DestructionRecord:
    """A reseller whose access ended certifies it destroyed (or returned) the customers' data
    it received (the NDA's duty). Refused while the reseller still has access."""
    partner = get_partner(session, partner_id)
    if access_ended_on(partner, today(clock)) is None:
        raise Conflict(f"partner {partner.id!r} still has access: revoke it first")
    if confirmed_on > today(clock):
        raise InvalidInput("confirmed on: not in the future")
    made = DestructionRecord(
        partner_id=partner.id,
        confirmed_on=confirmed_on,
        document_sha256=document_sha256,
        recorded_at=isoformat(clock.now()),
    )
    session.add(made)
    details = {"confirmed_on": confirmed_on.isoformat(), "document_sha256": document_sha256}
    record(
        session,
        Event(
            action="partner.destruction",
            actor=actor,
            subjects=(Subject("partner", partner.id),),
            request_id=request_id,
            details=details,
        ),
        clock=clock,
    )
    return made


def access_ended_on(partner: Partner, day: date) -> str | None:
    """Why a reseller can no longer receive data — ``revoked``, or ``nda_lapsed`` — or None."""
    if partner.status == REVOKED:
        return "revoked"
    if partner.nda_in_force(day) is None and partner.ndas:
        return "nda_lapsed"
    return None


def ended_without_destruction(session: Session, clock: Clock) -> list[dict[str, Any]]:
    """Resellers whose access ended and that have no certificate of destruction on record."""
    day = today(clock)
    recorded = set(session.scalars(select(DestructionRecord.partner_id)))
    return [
        {"id": p.id, "name": p.name, "ended": why, "revoked_at": p.revoked_at}
        for p in list_partners(session)
        if (why := access_ended_on(p, day)) and p.id not in recorded
    ]


def list_partners(session: Session) -> list[Partner]:
    return list(session.execute(select(Partner).order_by(Partner.id)).scalars())


def describe_partners(partners: list[Partner], clock: Clock) -> list[dict[str, Any]]:
    day = today(clock)
    views = [
        {
            "id": p.id,
            "name": p.name,
            "status": p.status,
            "created_at": p.created_at,
            "revoked_at": p.revoked_at,
            "revoke_reason": p.revoke_reason,
            "rate_limit_per_minute": p.rate_limit_per_minute,
            "nda_in_force": p.nda_in_force(day),
            "ndas": p.ndas,
        }
        for p in partners
    ]
    dumped = PartnerOutput(many=True).dump(views)
    for view, partner in zip(dumped, partners, strict=True):
        view["sandbox"] = bool(partner.sandbox)  # not in PartnerOutput (gateway.partners.schemas)
    return dumped
