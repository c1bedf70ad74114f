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
        page = customers_for_partner(session, "demo-reseller", day, now=clock.now())
        records, cursor = page.records, page.next_cursor
        assert [r.customer_id for r in records] == ["DEMO-0001", "DEMO-0002", "DEMO-0003"]
        assert cursor is None
        assert customer_for_partner(session, "demo-reseller", "DEMO-0004", day).withheld
        assert customer_for_partner(session, "demo-reseller", "DEMO-0005", day).withheld
        assert "internal_notes" not in records[0].content


def test_the_demo_shows_a_removal_event_waiting_for_the_demo_reseller(cli, runtime):
    from sqlalchemy import select

    from gateway.audit.models import AuditCheckpoint
    from gateway.removals.models import RemovalEvent

    result = cli("demo", "--no-serve")
    assert result.exit_code == 0, result.output
    assert "a removal event waits for it" in result.output
    with runtime.transaction() as session:
        events = [(e.partner_id, e.customer_id, e.reason)
                  for e in session.scalars(select(RemovalEvent))]  # fmt: skip
        sealed = session.scalar(select(AuditCheckpoint.size))
    assert events == [("demo-reseller", "DEMO-0003", "stop_use")]
    assert sealed  # and the log is sealed
    assert cli("demo", "--no-serve").exit_code == 0  # idempotent: nothing made twice
    with runtime.transaction() as session:
        assert len(list(session.scalars(select(RemovalEvent)))) == 1
