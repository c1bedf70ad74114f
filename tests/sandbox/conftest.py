"""A sandbox reseller, for the tests of the sandbox."""

from __future__ import annotations

from datetime import timedelta

from gateway.clock import today
from gateway.partners import service as partners
from tests import factories

SANDBOX = "sbx"


def sandbox_partner(session, clock, partner_id: str = SANDBOX) -> None:
    """A sandbox reseller with an NDA in force."""
    partners.add_partner(session, clock, factories.OPERATOR, partner_id=partner_id,
                         name="Sandbox K.K.", sandbox=True)  # fmt: skip
    day = today(clock)
    partners.record_nda(session, clock, factories.OPERATOR, partner_id=partner_id,
                        reference=f"NDA-{partner_id}", signed_on=day - timedelta(days=30),
                        expires_on=day + timedelta(days=365))  # fmt: skip
