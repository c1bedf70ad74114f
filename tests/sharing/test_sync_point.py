"""The sync point: the ``updated_since`` the gateway hands out is safe to pass next time —
nothing committed during a sync, however long the writer took, is skipped by the next one."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.clock import FixedClock, ZonedClock, isoformat, today
from gateway.designations.models import Designation
from gateway.designations.sync_key import SETTLE
from gateway.sharing.service import customers_for_partner
from tests import factories


@pytest.fixture
def acme(runtime, clock):
    """acme is designated by C-0..C-4."""
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")
        for n in range(5):
            factories.customer(session, clock, f"C-{n}")
            factories.designation(session, clock, f"C-{n}")
    clock.advance(timedelta(hours=1))
    return runtime


def _sync(runtime, clock, since: str | None, limit: int = 100):
    """One whole paging run as a reseller makes it: (ids and names seen, sync points given)."""
    seen, points, cursor = {}, [], None
    while True:
        with runtime.reading() as session:
            page = customers_for_partner(
                session, "acme", today(clock), limit=limit, cursor=cursor, now=clock.now(),
                updated_since=datetime.fromisoformat(since) if since else None,
            )  # fmt: skip
        seen.update((r.customer_id, r.content["name"]) for r in page.records)
        points.append(page.sync_point)
        if page.next_cursor is None:
            return seen, points
        cursor = page.next_cursor
        clock.advance(timedelta(seconds=5))


def test_a_change_committed_during_a_sync_is_returned_by_the_next_one(acme, clock):
    """A long import took its sync key ten minutes before it committed, and a sync ran in
    between: the next sync, from the sync point that one gave, still returns the change."""
    _, [since] = _sync(acme, clock, None)
    with acme.transaction() as writer:
        factories.customer(writer, clock, "C-2", name="Renamed during the sync")
        provisional = writer.get(Designation, ("C-2", "acme")).changed_at
        clock.advance(timedelta(minutes=10))  # the import goes on...
        seen, [point] = _sync(acme, clock, since)  # ...while the reseller syncs
        assert seen == {}
        assert point > provisional  # a key taken before it, committed after
        clock.advance(timedelta(seconds=1))
    seen, _ = _sync(acme, clock, point)
    assert seen == {"C-2": "Renamed during the sync"}


def test_a_rolled_back_writer_leaves_nothing_to_settle(acme, clock):
    with pytest.raises(RuntimeError), acme.transaction() as writer:
        factories.customer(writer, clock, "C-1", name="Never committed")
        raise RuntimeError("import refused")
    assert "gateway.sync_keys" not in writer.info
    with acme.transaction() as session:  # a later commit re-stamps nothing of it
        factories.customer(session, clock, "C-3", name="Renamed")
    with acme.reading() as session:
        keys = {d.customer_id: d.changed_at for d in session.query(Designation)}
    assert keys["C-1"] < keys["C-3"]


def test_every_page_of_a_run_gives_the_sync_point_of_its_first(acme, clock):
    """A run that pages for minutes: a customer changed behind its cursor is returned by the
    next run, because every page gives the first page's sync point."""
    with acme.reading() as session:
        first = customers_for_partner(session, "acme", today(clock), limit=2, now=clock.now())
    assert first.sync_point == isoformat(clock.now() - SETTLE)
    clock.advance(timedelta(minutes=5))
    with acme.transaction() as writer:  # C-0, already passed, changes
        factories.customer(writer, clock, "C-0", name="Changed behind the cursor")
    clock.advance(timedelta(minutes=5))
    cursor, points = first.next_cursor, [first.sync_point]
    while cursor:
        with acme.reading() as session:
            page = customers_for_partner(session, "acme", today(clock), limit=2, cursor=cursor,
                                         now=clock.now())  # fmt: skip
        points.append(page.sync_point)
        cursor = page.next_cursor
        clock.advance(timedelta(minutes=5))
    assert len(set(points)) == 1 and len(points) >= 3
    seen, _ = _sync(acme, clock, points[-1])
    assert seen["C-0"] == "Changed behind the cursor"


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York"])
def test_a_designation_from_a_later_day_is_returned_by_the_sync_after_it_takes_effect(
    runtime, zone
):
    """It takes effect at midnight on the company's calendar; a sync point handed out just
    before then must not pass it by (west of Greenwich a UTC-midnight key did)."""
    zoned = ZoneInfo(zone)
    clock = ZonedClock(FixedClock(datetime(2026, 12, 1, 23, 50, tzinfo=zoned)), zoned)
    tomorrow = date(2026, 12, 2)
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")
        factories.customer(session, clock, "C-9")
        factories.designation(session, clock, "C-9", on=tomorrow)
    seen, points = _sync(runtime, clock, None)
    assert seen == {}
    clock.clock.advance(timedelta(minutes=20))  # 00:10 on the company's calendar
    seen, _ = _sync(runtime, clock, points[-1])
    assert list(seen) == ["C-9"]
