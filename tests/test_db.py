"""The hot path's statements: compiled by SQLAlchemy, run on the driver's cursor, in raw
transactions — on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Date, bindparam, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from gateway import db
from gateway.audit.models import AuditHead
from gateway.clock import today
from gateway.designations.models import Designation
from gateway.partners.models import Partner
from tests import factories

_DESIGNATED = db.Prepared(
    select(Designation.customer_id)
    .where(
        Designation.customer_id.in_(bindparam("ids", expanding=True)),
        Designation.designated_on <= bindparam("day", type_=Date),
    )
    .order_by(Designation.customer_id),
    expanding="ids",
)
_NAME = db.Prepared(select(Partner.name).where(Partner.id == bindparam("id")))


@pytest.fixture
def designated(runtime, clock) -> list[str]:
    ids = [f"C-{n:02d}" for n in range(5)]
    with runtime.transaction() as session:
        factories.partner(session, clock)
        for customer_id in ids:
            factories.customer(session, clock, customer_id)
            factories.designation(session, clock, customer_id)
    return ids


def test_an_in_list_of_any_length_is_served_by_a_few_renderings(runtime, clock, designated):
    day = today(clock)
    with runtime.read_snapshot() as raw:
        for length in (0, 1, 2, 3, 4, 5):
            ids = designated[:length] + ["nobody"]
            rows = _DESIGNATED.all(raw, {"ids": ids, "day": day})
            assert [row[0] for row in rows] == designated[:length]
        longest = ["nobody"] * (db.MAX_EXPANDED - 5) + designated
        assert len(_DESIGNATED.all(raw, {"ids": longest, "day": day})) == 5
        with pytest.raises(ValueError):
            _DESIGNATED.all(raw, {"ids": longest + ["one too many"], "day": day})
        with pytest.raises(ValueError):
            _DESIGNATED.all(raw, {"ids": [], "day": day})
    lengths = {length for dialect, length in _DESIGNATED._plans}  # noqa: SLF001
    assert lengths <= {1, 2, 4, 8, db.MAX_EXPANDED}


def test_shareable_customers_are_checked_in_lists_of_any_size(runtime, clock, designated):
    from gateway.sharing.service import shareable_now

    many = [f"X-{n}" for n in range(2500)] + designated
    with runtime.read_snapshot() as raw:
        assert shareable_now(raw, "acme", many, today(clock)) == set(designated)


def test_dates_are_bound_as_each_database_wants_them(runtime, clock, designated):
    # Designations made a week ago: none are in force two weeks ago.
    before = today(clock) - timedelta(days=14)
    with runtime.read_snapshot() as raw:
        assert _DESIGNATED.all(raw, {"ids": designated, "day": before}) == []
        assert len(_DESIGNATED.all(raw, {"ids": designated, "day": date(2099, 1, 1)})) == 5


def test_statements_run_inside_an_orm_session_too(runtime, clock, designated):
    with runtime.transaction() as session:
        session.add(Partner(id="newco", name="New Co", status="active",
                            created_at="2026-04-01T00:00:00.000000Z"))  # fmt: skip
        session.flush()
        assert _NAME.one_or_none(session, {"id": "newco"}) == ("New Co",)


def test_a_driver_error_is_raised_as_sqlalchemys_with_the_values_hidden(runtime):
    duplicate = db.Prepared(AuditHead.__table__.insert())
    with pytest.raises(IntegrityError) as raised, runtime.writing() as raw:
        duplicate.execute(raw, {"id": 1, "seq": 0, "entry_hash": "SECRET-VALUE"})
    assert isinstance(raised.value, DBAPIError)
    assert "SECRET-VALUE" not in str(raised.value)


def test_a_failed_write_transaction_changes_nothing(runtime, clock, designated):
    rename = db.Prepared(
        Partner.__table__.update().where(Partner.id == bindparam("pid")).values(name="Renamed")
    )
    with pytest.raises(RuntimeError), runtime.writing() as raw:
        rename.execute(raw, {"pid": "acme"}).close()
        raise RuntimeError("the request failed after its write")
    with runtime.read_snapshot() as raw:
        assert _NAME.one_or_none(raw, {"id": "acme"}) == ("Acme Sales K.K.",)
    with runtime.writing() as raw:
        rename.execute(raw, {"pid": "acme"}).close()
    with runtime.read_snapshot() as raw:
        assert _NAME.one_or_none(raw, {"id": "acme"}) == ("Renamed",)


def test_a_reader_sees_one_snapshot_and_never_commits(runtime, clock, designated):
    rename = db.Prepared(
        Partner.__table__.update().where(Partner.id == bindparam("pid")).values(name="Renamed")
    )
    with runtime.read_snapshot() as raw:
        rename.execute(raw, {"pid": "acme"}).close()  # a reader that writes: rolled back
    with runtime.read_snapshot() as raw:
        assert _NAME.one_or_none(raw, {"id": "acme"}) == ("Acme Sales K.K.",)
