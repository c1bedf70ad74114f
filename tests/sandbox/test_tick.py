"""Sandbox ticks: data that changes over time, through the production services — updates, new
customers and removals that become removal events — the same batch for the same state."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.customers.models import Customer, ErasedCustomer
from gateway.designations.models import Designation
from gateway.removals.models import REASONS, RemovalEvent
from gateway.sandbox import service as sandbox
from gateway.sandbox.ticker import Ticker
from tests import factories
from tests.sandbox.conftest import POPULATION, SANDBOX, sandbox_partner, sync_all


class _Rollback(Exception):
    pass


def _tick(runtime, clock, changes=20, *, keep=True) -> sandbox.TickSummary:
    try:
        with runtime.transaction() as session:
            summary = sandbox.tick(session, clock, factories.OPERATOR, changes=changes)
            if not keep:
                raise _Rollback
    except _Rollback:
        pass
    return summary


def _hashes(runtime) -> dict[str, str]:
    with runtime.transaction() as session:
        return dict(session.execute(select(Customer.customer_id, Customer.content_hash)).all())


def test_a_tick_updates_adds_and_removes_customers_through_the_services(app, populated, clock):
    assert len(sync_all(app, clock)) == POPULATION  # the reseller's first load
    before = _hashes(populated)

    summary = _tick(populated, clock, changes=20)

    assert (len(summary.updated), len(summary.created), len(summary.removed)) == (12, 4, 4)
    after = _hashes(populated)
    assert all(after[c] != before[c] for c in summary.updated)
    assert summary.created == [f"SANDBOX-{n:06d}" for n in range(41, 45)]
    with populated.transaction() as session:
        designated = {d.customer_id for d in session.scalars(
            select(Designation).where(Designation.partner_id == SANDBOX,
                                      Designation.withdrawn_on.is_(None))
        )}  # fmt: skip
        events = {(e.customer_id, e.reason) for e in session.scalars(select(RemovalEvent))}
        actions = {e.action for e in session.scalars(select(AuditEntry))}
    assert set(summary.created) <= designated
    gone = {c for c, why in summary.removed.items() if why in ("designation_withdrawn", "erased")}
    assert not gone & designated
    # Each removed customer had been received: one removal event each, for the sandbox reseller.
    assert events == set(summary.removed.items()) and summary.removal_events == 4
    assert {"customers.import", "designation.add", "removal.notify"} <= actions
    # A second load sees the new customers, not the removed ones.
    seen = set(sync_all(app, clock))
    assert set(summary.created) <= seen and not seen & set(summary.removed)


def test_ticks_remove_customers_in_every_way_production_does(populated, clock):
    reasons = set()
    for _ in range(3):
        reasons |= set(_tick(populated, clock, changes=40).removed.values())
    assert reasons <= set(REASONS)
    assert {"stop_use", "designation_withdrawn", "contract_ended"} <= reasons
    with populated.transaction() as session:
        erased = set(session.scalars(select(ErasedCustomer.customer_id)))
    assert erased == {c for c in erased if c.startswith("SANDBOX-")}


def test_the_same_state_gives_the_same_tick_and_the_next_one_differs(populated, clock):
    first = _tick(populated, clock, keep=False)  # rolled back: the state is as before
    again = _tick(populated, clock)
    assert again.as_dict() == first.as_dict()
    following = _tick(populated, clock)
    assert following.as_dict() != again.as_dict()
    assert following.created[0] == f"SANDBOX-{POPULATION + len(again.created) + 1:06d}"


def test_sandbox_tick_command_prints_its_batch(cli, populated):
    result = cli("sandbox", "tick", "--changes", "5", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (len(summary["updated"]), len(summary["created"]), len(summary["removed"])) == (3, 1, 1)
    line = cli("sandbox", "tick").stdout
    assert line.startswith("sandbox tick: 6 customers updated, 2 new, 2 removed")


def test_sandbox_tick_without_a_sandbox_reseller_is_refused(cli, runtime, clock):
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")
    result = cli("sandbox", "tick")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "no active sandbox reseller" in result.stderr
    assert cli("sandbox", "tick", "--changes", "0").exit_code == 2


def test_seeding_twice_makes_nothing_the_second_time(populated, clock):
    with populated.transaction() as session:
        sandbox_partner(session, clock, "sbx2")
        assert sandbox.seed_customers(session, clock, factories.OPERATOR, partner_id="sbx2") == 0


def test_the_ticker_ticks_on_its_schedule_and_stops_cleanly():
    ticked = threading.Semaphore(0)
    calls, lines = [], []

    def tick() -> str:
        calls.append(1)
        ticked.release()
        if len(calls) == 2:
            raise RuntimeError("one failed tick")  # and the next one runs regardless
        return f"tick {len(calls)}"

    ticker = Ticker(tick, every=0.01, report=lines.append)
    ticker.start()
    for _ in range(3):
        assert ticked.acquire(timeout=5)
    ticker.stop()
    assert not ticker.running and lines[:2] == ["tick 1", "tick 3"]


def test_a_ticker_every_zero_seconds_never_starts():
    ticker = Ticker(lambda: pytest.fail("ticked"), every=0)
    ticker.start()
    assert not ticker.running
    ticker.stop()
