"""Factories for test data; each call makes fresh rows through the real services."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

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


def client(
    session: Session,
    clock: Clock,
    partner_id: str = "acme",
    *,
    scopes: str = "customers:contact",
    key: Any = None,
    sender_constraint: str = "none",
) -> tuple[str, str | None]:
    """An OAuth client of ``partner_id``: with a generated secret, or — given ``key`` (a
    joserfc key, registered with kid ``k1``) — for ``private_key_jwt``. Bearer tokens unless
    ``sender_constraint="dpop"``. Returns its id and its secret (``None`` for a key client)."""
    import json

    from gateway.oauth import clients

    jwks = None
    if key is not None:
        jwks = json.dumps({"keys": [key.as_dict(private=False) | {"kid": "k1"}]})
    made, secret = clients.add_client(
        session, clock, OPERATOR, partner_id=partner_id, scopes=scopes, jwks_text=jwks,
        with_secret=key is None, sender_constraint=sender_constraint,
    )  # fmt: skip
    return made.client_id, secret


def customer(session: Session, clock: Clock, customer_id: str = "C-0001", **fields: object) -> str:
    """A customer imported through the real import door; ``fields`` override the defaults
    (contract defaults to an active one). Returns the customer id."""
    import io
    import json

    from gateway import allowlist
    from gateway.customers.importer import import_customers

    source = {
        "customer_id": customer_id,
        "name": f"Customer {customer_id}",
        "email": f"{customer_id.lower()}@example.com",
        "contract": {"usage_status": "active", "services": ["sync"]},
        **fields,
    }
    line = (json.dumps(source, ensure_ascii=False) + "\n").encode()
    import_customers(session, clock, OPERATOR, io.BytesIO(line), allowlist=allowlist.current())
    return customer_id


def designation(
    session: Session,
    clock: Clock,
    customer_id: str,
    partner_id: str = "acme",
    *,
    on: date | None = None,
):
    """``customer_id`` designates ``partner_id``, by default from a week ago."""
    from gateway.designations import service as designations

    return designations.add_designation(
        session, clock, OPERATOR, customer_id=customer_id, partner_id=partner_id,
        designated_on=on or today(clock) - timedelta(days=7),
    )  # fmt: skip
