"""The demo's sandbox: sandbox-reseller and its few hundred generated customers, made once;
one tick at every start; no secret printed for it."""

from __future__ import annotations

import json
import re

from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.clock import today
from gateway.customers.models import Customer, ErasedCustomer
from gateway.demo.service import SANDBOX_PARTNER, seed
from gateway.designations.models import Designation
from gateway.oauth.models import OAuthClient
from gateway.partners.models import Partner


def _counts(runtime) -> tuple[int, int, int]:
    count = select(func.count())
    with runtime.transaction() as session:
        generated = session.scalar(
            count.select_from(Customer).where(Customer.customer_id.startswith("SANDBOX-"))
        )
        designations = session.scalar(
            count.select_from(Designation).where(Designation.partner_id == SANDBOX_PARTNER)
        )
        log = session.scalar(count.select_from(AuditEntry))
    return generated, designations, log


def test_the_demo_seeds_a_sandbox_reseller_with_300_generated_customers_once(runtime, clock):
    with runtime.transaction() as session:
        seed(session, clock)
    first = _counts(runtime)
    assert first[:2] == (300, 300)
    with runtime.transaction() as session:
        seed(session, clock)
    assert _counts(runtime) == first  # idempotent: nothing made, nothing logged

    with runtime.transaction() as session:
        partner = session.get(Partner, SANDBOX_PARTNER)
        assert (partner.name, partner.sandbox, partner.status) == (
            "Sandbox Reseller K.K.", True, "active",
        )  # fmt: skip
        assert partner.nda_in_force(today(clock)) is not None
        assert not session.get(Partner, "demo-reseller").sandbox
        contents = [json.loads(c) for c in session.scalars(
            select(Customer.content).where(Customer.customer_id.startswith("SANDBOX-"))
        )]  # fmt: skip
    assert all(re.fullmatch(r"[0-9]+", c["fees"]["monthly_amount"]) for c in contents)
    assert all(c["email"].endswith(".example") and c["phone"] for c in contents)
    assert len({c["company_name"] for c in contents}) > 100  # varied, not one record 300 times


def test_generated_customers_are_the_same_on_every_run(runtime, clock):
    from gateway.sandbox.generator import new_customer

    day = today(clock)
    assert new_customer(7, day) == new_customer(7, day) != new_customer(8, day)


def test_the_demo_command_ticks_the_sandbox_and_prints_no_secret_for_it(cli, runtime):
    result = cli("demo", "--no-serve")
    assert result.exit_code == 0, result.output
    assert "sandbox tick: 6 customers updated, 2 new, 2 removed" in result.stdout
    assert f"gateway clients add {SANDBOX_PARTNER}" in result.stdout
    with runtime.transaction() as session:
        assert not list(session.scalars(
            select(OAuthClient).where(OAuthClient.partner_id == SANDBOX_PARTNER)
        ))  # fmt: skip
    made = _ever_made(runtime)
    assert cli("demo", "--no-serve").exit_code == 0  # a second start: one more tick, no reseed
    assert _ever_made(runtime) == made + 2


def _ever_made(runtime) -> int:
    """Generated customers made so far, erased ones included."""
    with runtime.transaction() as session:
        erased = session.scalar(select(func.count()).select_from(ErasedCustomer))
    return _counts(runtime)[0] + erased


def test_the_demo_servers_tick_runs_on_its_own_runtime(gateway_env, monkeypatch, runtime, clock):
    from gateway.demo.cli import _sandbox_tick

    with runtime.transaction() as session:
        seed(session, clock)
    for name, value in gateway_env.items():
        monkeypatch.setenv(name, value)
    assert _sandbox_tick().startswith("sandbox tick: 6 customers updated, 2 new, 2 removed")


def test_sandbox_every_refuses_a_negative_interval(cli):
    result = cli("demo", "--no-serve", "--sandbox-every", "-1")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
