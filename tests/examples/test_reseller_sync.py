"""The reference reseller client (examples/reseller_sync), end to end against a real gateway
under gunicorn: it syncs its local copy, and after each kind of removal — stop of use,
designation withdrawn, contract ended, erasure — its copy no longer holds the customer and the
gateway shows the event acknowledged."""

from __future__ import annotations

import importlib.util
import io
import json
import time
from pathlib import Path

import pytest
from joserfc.jwk import ECKey

from gateway import allowlist
from gateway.customers import erasure
from gateway.customers import service as customers
from gateway.customers.importer import import_customers
from gateway.designations.service import withdraw_designation
from gateway.oauth.keys import init_keys
from gateway.removals.service import pending
from tests import factories
from tests.server import ROOT, GunicornServer

pytestmark = pytest.mark.slow
EXAMPLE = ROOT / "examples" / "reseller_sync" / "reseller_sync.py"


def _example():
    spec = importlib.util.spec_from_file_location("reseller_sync", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_imports_nothing_of_the_gateway():
    source = EXAMPLE.read_text()
    assert "import gateway" not in source and "from gateway" not in source


def test_the_reference_client_keeps_in_step_with_every_kind_of_removal(
    runtime, clock, gateway_env, tmp_path
):
    init_keys(runtime.config.keys_dir, int(time.time()))
    key = ECKey.generate_key("P-256", private=True, parameters={"kid": "k1"})
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")
        factories.partner(session, clock, "bolt")
        for n in range(1, 5):
            factories.customer(session, clock, f"C-{n}")
            factories.designation(session, clock, f"C-{n}", "acme")
        factories.designation(session, clock, "C-1", "bolt")  # bolt never syncs
        client_id, _ = factories.client(session, clock, "acme", key=key, sender_constraint="dpop")
    server = GunicornServer.start(gateway_env, tmp_path / "gunicorn.log", workers=2, threads=2)
    try:
        reseller = _example().ResellerSync(server.base_url, client_id, "acme", key,
                                           tmp_path / "copy.sqlite3")  # fmt: skip
        assert reseller.sync() == 4
        assert reseller.customers() == ["C-1", "C-2", "C-3", "C-4"]

        ended = {"customer_id": "C-3", "contract": {"usage_status": "terminated"}}
        with runtime.transaction() as session:
            customers.stop_use(session, clock, factories.OPERATOR, customer_id="C-1")
            withdraw_designation(session, clock, factories.OPERATOR, customer_id="C-2",
                                 partner_id="acme")  # fmt: skip
            import_customers(session, clock, factories.OPERATOR,
                             io.BytesIO(json.dumps(ended).encode() + b"\n"),
                             allowlist=allowlist.current())  # fmt: skip
            erasure.erase(session, clock, factories.OPERATOR, customer_id="C-4")
        erasure.scrub(runtime)

        assert sorted(reseller.apply_removals()) == ["C-1", "C-2", "C-3", "C-4"]
        assert reseller.customers() == []
        assert reseller.sync() == 0  # nothing comes back through updated_since
        assert reseller.customers() == []
    finally:
        server.stop()
    with runtime.reading() as session:
        assert pending(session, runtime.config.zone, 7, partner_id="acme") == []
        assert pending(session, runtime.config.zone, 7, partner_id="bolt") == []  # never received
    from sqlalchemy import select

    from gateway.removals.models import RemovalEvent

    with runtime.reading() as session:
        acked = {
            (e.customer_id, e.reason, e.acked_by) for e in session.scalars(select(RemovalEvent))
        }
    assert acked == {
        ("C-1", "stop_use", client_id),
        ("C-2", "designation_withdrawn", client_id),
        ("C-3", "contract_ended", client_id),
        ("C-4", "erased", client_id),
    }
    assert Path(tmp_path / "copy.sqlite3").exists()
