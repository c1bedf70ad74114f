"""Business days are the company's calendar (GATEWAY_TIMEZONE, Asia/Tokyo by default): an NDA
that ends on 31 March ends at midnight in Tokyo, not at 09:00 on 1 April."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from gateway.clock import FixedClock
from gateway.oauth.live_state import client_facts
from gateway.runtime import Runtime
from tests import factories


@pytest.mark.parametrize(
    ("zone", "at", "in_force"),
    [
        ("Asia/Tokyo", "2026-03-31T14:59:00", True),  # 23:59 on 31 March in Tokyo
        ("Asia/Tokyo", "2026-03-31T15:00:00", False),  # 00:00 on 1 April in Tokyo
        ("UTC", "2026-03-31T15:00:00", True),  # still 31 March in UTC
    ],
)
def test_an_nda_ends_at_midnight_of_the_companys_calendar(config, zone, at, in_force):
    clock = FixedClock(datetime.fromisoformat(at).replace(tzinfo=UTC))
    runtime = Runtime.open(replace(config, timezone=zone), clock)
    try:
        with runtime.transaction() as session:
            factories.partner(session, runtime.clock, "acme",
                              nda=(date(2025, 4, 1), date(2026, 3, 31)))  # fmt: skip
            client_id, _ = factories.client(session, runtime.clock, "acme")
        with runtime.reading() as session:
            assert client_facts(session, client_id, runtime.clock).nda_in_force is in_force
    finally:
        runtime.close()
