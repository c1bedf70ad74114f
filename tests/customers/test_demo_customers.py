"""The demo data's customers: idempotent, and showing each state a reseller can meet."""

from __future__ import annotations

from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.clock import today
from gateway.demo.service import seed
from gateway.sharing.service import customer_for_partner, customers_for_partner


def _log_length(runtime) -> int:
    with runtime.transaction() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry))


def test_demo_customers_are_seeded_once_and_demo_reseller_sees_the_shareable_ones(runtime, clock):
    with runtime.transaction() as session:
        seed(session, clock)
    length = _log_length(runtime)
    with runtime.transaction() as session:
        seed(session, clock)
    assert _log_length(runtime) == length

    day = today(clock)
    with runtime.transaction() as session:
        records, cursor = customers_for_partner(session, "demo-reseller", day)
        assert [r.customer_id for r in records] == ["DEMO-0001", "DEMO-0002", "DEMO-0003"]
        assert cursor is None
        assert customer_for_partner(session, "demo-reseller", "DEMO-0004", day).withheld
        assert customer_for_partner(session, "demo-reseller", "DEMO-0005", day).withheld
        assert "internal_notes" not in records[0].content
