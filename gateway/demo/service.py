"""Demo data: a few resellers in each state the gateway distinguishes, a handful of customers,
and a sandbox reseller with a few hundred generated customers. Idempotent. The README's
"Demo data" describes what is made."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from gateway.audit.spine import Actor, ActorKind
from gateway.clock import Clock, today
from gateway.partners import service as partners
from gateway.partners.models import Partner
from gateway.sandbox import service as sandbox

DEMO_ACTOR = Actor(ActorKind.SYSTEM, "demo")
SANDBOX_PARTNER = "sandbox-reseller"


def seed(session: Session, clock: Clock) -> list[str]:
    """Create the demo resellers that are missing, the demo customers and the sandbox's
    generated ones; returns the ids of the resellers created."""
    day = today(clock)
    created = []
    demo = (
        (
            "demo-reseller",
            "Demo Reseller K.K.",
            day - timedelta(days=30),
            day + timedelta(days=335),
            False,
            False,
        ),
        (
            "lapsed-reseller",
            "Lapsed Reseller K.K.",
            day - timedelta(days=400),
            day - timedelta(days=35),
            False,
            False,
        ),
        (
            "revoked-reseller",
            "Revoked Reseller K.K.",
            day - timedelta(days=60),
            day + timedelta(days=300),
            True,
            False,
        ),
        (
            SANDBOX_PARTNER,
            "Sandbox Reseller K.K.",
            day - timedelta(days=30),
            day + timedelta(days=335),
            False,
            True,
        ),
    )
    for partner_id, name, signed_on, expires_on, revoked, is_sandbox in demo:
        if session.get(Partner, partner_id) is not None:
            continue
        partners.add_partner(session, clock, DEMO_ACTOR, partner_id=partner_id, name=name,
                             sandbox=is_sandbox)  # fmt: skip
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
    _seed_customers(session, clock)
    # A few hundred, so that a reseller's integration meets paging (100 a page by default).
    sandbox.seed_customers(session, clock, sandbox.SANDBOX_ACTOR, partner_id=SANDBOX_PARTNER)
    return created


# Demo customers, as the company's customer system would export them: each carries a field
# outside the allowlist (internal_notes), which the import door drops. DEMO-0004 asked to stop
# use and DEMO-0005's contract ended, so demo-reseller sees only the first three.
_DEMO_CUSTOMERS = (
    ("DEMO-0001", "Sakura Trading K.K.", "Yamada Taro", "active", False),
    ("DEMO-0002", "Minato Design Inc.", "Suzuki Hanako", "active", False),
    ("DEMO-0003", "Kanda Logistics Co., Ltd.", "Tanaka Ichiro", "suspended", False),
    ("DEMO-0004", "Ueno Foods K.K.", "Sato Yuki", "active", True),
    ("DEMO-0005", "Akiba Parts Co., Ltd.", "Ito Ken", "terminated", False),
)


def _seed_customers(session: Session, clock: Clock) -> None:
    """Import the demo customers that are missing and designate demo-reseller for each."""
    import io
    import json

    from gateway import allowlist
    from gateway.customers import service as customers
    from gateway.customers.importer import import_customers
    from gateway.customers.models import Customer
    from gateway.designations import service as designations

    missing = [c for c in _DEMO_CUSTOMERS if session.get(Customer, c[0]) is None]
    if not missing:
        return
    day = today(clock)
    lines = []
    for number, (customer_id, company, name, status, _) in enumerate(missing, start=1):
        lines.append(
            {
                "customer_id": customer_id,
                "account_id": f"acct-{customer_id.lower()}",
                "company_name": company,
                "department": "General Affairs",
                "title": "Manager",
                "name": name,
                "address": f"2-2-{number} Kanda-Sudacho, Chiyoda-ku, Tokyo",
                "email": f"{customer_id.lower()}@example.com",
                "phone": f"03-0000-000{number}",
                "fax": None,
                "contract": {
                    "application_date": (day - timedelta(days=400)).isoformat(),
                    "contract_date": (day - timedelta(days=390)).isoformat(),
                    "services": ["smartphone-sync"],
                    "usage_status": status,
                    "payment_method": "invoice",
                },
                "fees": {"plan": "standard", "monthly_amount": "5500", "currency": "JPY"},
                "inquiries": [
                    {
                        "inquiry_id": f"INQ-{customer_id}",
                        "received_at": "2026-01-15T10:00:00+09:00",
                        "content": "Sync stops after the phone restarts.",
                        "investigation": "Reproduced with the battery saver on.",
                        "answer": "Exclude the app from the battery saver.",
                        "answered_at": "2026-01-16T15:30:00+09:00",
                    }
                ],
                "internal_notes": "demo: never leaves the company",
            }
        )
    source = io.BytesIO("".join(json.dumps(line) + "\n" for line in lines).encode())
    import_customers(session, clock, DEMO_ACTOR, source, allowlist=allowlist.current())
    for customer_id, _, _, _, stop_use in missing:
        designations.add_designation(
            session, clock, DEMO_ACTOR, customer_id=customer_id, partner_id="demo-reseller",
            designated_on=day - timedelta(days=30),
        )  # fmt: skip
        if stop_use:
            customers.stop_use(session, clock, DEMO_ACTOR, customer_id=customer_id)
