"""The sharing service: one customer as a reseller sees it, and the keyset-paginated list."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import pytest

from gateway.clock import today
from gateway.customers import service as customers
from gateway.designations import service as designations
from gateway.errors import InvalidInput
from gateway.sharing.service import (
    _PAGES,
    MAX_LIMIT,
    customer_for_partner,
    customers_for_partner,
    encode_cursor,
)
from tests import factories
from tests.factories import OPERATOR


@pytest.fixture
def shop(runtime, clock):
    """acme is designated by C-00..C-11; C-03 stopped use, C-04's contract ended, C-05's
    designation was withdrawn, C-06 designated only beta, C-07 designates acme from tomorrow."""
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")
        factories.partner(session, clock, "beta")
        for n in range(12):
            customer_id = f"C-{n:02d}"
            status = "terminated" if n == 4 else "active"
            factories.customer(session, clock, customer_id, contract={"usage_status": status})
            if n == 6:
                factories.designation(session, clock, customer_id, "beta")
            elif n == 7:
                factories.designation(session, clock, customer_id, on=today(clock) + timedelta(1))
            else:
                factories.designation(session, clock, customer_id, "acme")
            clock.advance(timedelta(seconds=1))
        customers.stop_use(session, clock, OPERATOR, customer_id="C-03")
        designations.withdraw_designation(
            session, clock, OPERATOR, customer_id="C-05", partner_id="acme"
        )
    return runtime


ELIGIBLE = ["C-00", "C-01", "C-02", "C-08", "C-09", "C-10", "C-11"]


def _walk(runtime, clock, partner="acme", limit=2, **filters) -> list[str]:
    seen, cursor = [], None
    for _ in range(100):
        with runtime.transaction() as session:
            page = customers_for_partner(
                session,
                partner,
                today(clock),
                limit=limit,
                cursor=cursor,
                now=clock.now(),
                **filters,
            )
            records, cursor = page.records, page.next_cursor
        assert len(records) <= limit
        seen.extend(r.customer_id for r in records)
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 100])
def test_walking_all_pages_returns_every_eligible_customer_exactly_once(shop, clock, limit):
    assert _walk(shop, clock, limit=limit) == ELIGIBLE


def test_the_last_full_page_has_no_next_cursor(shop, clock):
    with shop.transaction() as session:
        page = customers_for_partner(session, "acme", today(clock), limit=7, now=clock.now())
        records, cursor = page.records, page.next_cursor
    assert len(records) == 7 and cursor is None


def test_withheld_and_undesignated_customers_are_never_listed(shop, clock):
    listed = set(_walk(shop, clock))
    assert not listed & {"C-03", "C-04", "C-05", "C-06", "C-07"}
    assert _walk(shop, clock, partner="beta") == ["C-06"]
    assert _walk(shop, clock, partner="nobody") == []


def test_a_future_designation_is_listed_from_its_day(shop, clock):
    clock.advance(timedelta(days=1))
    assert "C-07" in _walk(shop, clock)


def test_one_customer_as_seen_reports_the_facts(shop, clock):
    day = today(clock)
    with shop.transaction() as session:
        assert customer_for_partner(session, "acme", "C-404", day) is None
        assert customer_for_partner(session, "acme", "../etc", day) is None
        facts = {
            customer_id: (seen.designated, seen.withheld)
            for customer_id in ("C-00", "C-03", "C-04", "C-05", "C-06")
            if (seen := customer_for_partner(session, "acme", customer_id, day))
        }
        content = customer_for_partner(session, "acme", "C-00", day).customer
    assert facts == {
        "C-00": (True, False),
        "C-03": (True, True),
        "C-04": (True, True),
        "C-05": (False, False),
        "C-06": (False, False),
    }
    assert content.customer_id == "C-00"
    assert content.content["name"] == "Customer C-00"
    assert content.record["updated_at"] == content.updated_at


def test_updated_since_returns_changed_and_newly_visible_customers(shop, clock):
    clock.advance(timedelta(hours=1))
    since = clock.now()
    assert _walk(shop, clock, updated_since=since) == []
    clock.advance(timedelta(minutes=1))
    with shop.transaction() as session:
        factories.customer(session, clock, "C-09", name="Renamed")  # content changed
        factories.customer(session, clock, "C-10", contract={"usage_status": "active"})  # same
        designations.add_designation(  # an old customer newly designates acme
            session, clock, OPERATOR, customer_id="C-06", partner_id="acme"
        )
        customers.resume_use(session, clock, OPERATOR, customer_id="C-03")
    assert sorted(_walk(shop, clock, updated_since=since)) == ["C-03", "C-06", "C-09"]
    assert _walk(shop, clock, updated_since=since.astimezone(_jst())) == _walk(
        shop, clock, updated_since=since
    )


def test_the_listed_record_is_the_stored_content(shop, clock):
    with shop.transaction() as session:
        [first] = customers_for_partner(
            session, "acme", today(clock), limit=1, now=clock.now()
        ).records
    assert first.customer_id == "C-00"
    assert first.content["contract"]["usage_status"] == "active"
    assert first.updated_at.endswith("Z")


FORGED = {
    "not base64": "!!!",
    "base64 of garbage": base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "not a list": base64.urlsafe_b64encode(b'{"k": 1}').decode(),
    "wrong arity": base64.urlsafe_b64encode(b'["2026-04-01T09:00:00.000000Z"]').decode(),
    "bad instant": base64.urlsafe_b64encode(b'["yesterday", "C-1"]').decode(),
    "bad id": base64.urlsafe_b64encode(b'["2026-04-01T09:00:00.000000Z", "\' OR 1=1"]').decode(),
    "huge": "A" * 10_000,
    "empty": "",
    "non-ascii": "カーソル",
}


@pytest.mark.parametrize("cursor", FORGED.values(), ids=FORGED.keys())
def test_a_malformed_cursor_is_invalid_input(shop, clock, cursor):
    with shop.transaction() as session, pytest.raises(InvalidInput, match="cursor"):
        customers_for_partner(session, "acme", today(clock), cursor=cursor, now=clock.now())


def test_a_well_formed_forged_cursor_only_moves_within_the_callers_customers(shop, clock):
    cursor = encode_cursor("0000-01-01T00:00:00.000000Z", "A", "2026-01-01T00:00:00.000000Z")
    with shop.transaction() as session:
        records = customers_for_partner(
            session, "beta", today(clock), cursor=cursor, now=clock.now()
        ).records
    assert [r.customer_id for r in records] == ["C-06"]


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1, True])
def test_limit_out_of_range_is_invalid_input(shop, clock, limit):
    with shop.transaction() as session, pytest.raises(InvalidInput, match="limit"):
        customers_for_partner(session, "acme", today(clock), limit=limit, now=clock.now())


def test_an_updated_since_after_the_gateways_clock_is_invalid_input(shop, clock):
    """Never a silent empty page: a corrupt sync point would skip every change until then."""
    later = clock.now() + timedelta(seconds=1)
    with shop.transaction() as session, pytest.raises(InvalidInput, match="later than"):
        customers_for_partner(session, "acme", today(clock), updated_since=later, now=clock.now())


def test_naive_updated_since_is_invalid_input(shop, clock):
    with shop.transaction() as session, pytest.raises(InvalidInput, match="updated_since"):
        customers_for_partner(
            session, "acme", today(clock), updated_since=datetime(2026, 1, 1), now=clock.now()
        )


def test_the_list_query_reads_the_partner_index_without_sorting(shop, clock):
    """Keyset pagination serves each page from the (partner_id, changed_at, customer_id)
    index; no sort of the partner's customers, no scan of the table."""
    params = {
        "partner_id": "acme",
        "day": today(clock),
        "limit": 3,
        "since": "2026-01-01",
        "after_changed_at": "2026-01-01T00:00:00.000000Z",
        "after_customer_id": "C-01",
    }
    captured = [page.render(shop.engine.dialect, params) for page in _PAGES.values()]
    assert len(captured) == 4  # with and without updated_since, with and without a cursor

    for statement, parameters in captured:
        with shop.engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            plan_cursor = raw.cursor()
            if shop.engine.dialect.name == "sqlite":
                plan_cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                plan = "\n".join(str(row[-1]) for row in plan_cursor.fetchall())
                assert "ix_designations_partner_id_changed_at" in plan, plan
                assert "TEMP B-TREE" not in plan, plan
            else:
                # A handful of rows would make any plan a sequential scan; ask the planner
                # whether the index can serve the query at all.
                plan_cursor.execute("SET enable_seqscan = off")
                plan_cursor.execute("EXPLAIN " + statement, parameters)
                plan = "\n".join(row[0] for row in plan_cursor.fetchall())
                assert "ix_designations_partner_id_changed_at" in plan, plan
                assert "Sort" not in plan, plan
            plan_cursor.close()
            raw.rollback()


def _jst():
    from datetime import timezone

    return timezone(timedelta(hours=9))


def test_cursor_is_opaque_base64url_of_the_last_key_and_the_runs_sync_point():
    cursor = encode_cursor("2026-04-01T09:00:00.000000Z", "C-1", "2026-04-01T08:59:00.000000Z")
    assert "=" not in cursor
    padded = cursor + "=" * (-len(cursor) % 4)
    assert json.loads(base64.urlsafe_b64decode(padded)) == [
        "2026-04-01T09:00:00.000000Z", "C-1", "2026-04-01T08:59:00.000000Z"]  # fmt: skip
