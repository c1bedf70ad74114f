"""Nothing outside the allowlist is ever stored or shaped: a sentinel value in every
non-allowlisted source field appears nowhere in the database files or rows, nor in any output."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway import allowlist
from gateway.sharing.service import customer_for_partner, customers_for_partner
from tests import factories

SENTINEL = "SENTINEL7f3a9c-機密"
VISIBLE = "VISIBLE5b2e1d"  # an allowlisted value: proves the search sees stored data

NON_ALLOWLISTED = {
    "credit_check": SENTINEL,
    "communication_history": [{"at": "2026-01-01", "log": SENTINEL}],
    "internal_notes": SENTINEL,
    "billing_account": {"bank": SENTINEL, "number": SENTINEL},
    "updated_at": SENTINEL,
}


def _source(customer_id: str) -> dict:
    return {
        "customer_id": customer_id,
        "name": f"{VISIBLE} {customer_id}",
        "email": "c@example.com",
        "contract": {
            "usage_status": "active",
            "services": ["sync"],
            "internal_code": SENTINEL,
        },
        "fees": {"plan": "standard", "monthly_amount": 5500, "discount_reason": SENTINEL},
        "inquiries": [{"inquiry_id": "Q1", "content": "help", "staff_memo": SENTINEL}],
        **NON_ALLOWLISTED,
    }


def _database_text(database_url: str, runtime) -> bytes:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database)
        return b"".join(
            candidate.read_bytes()
            for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-journal"))
            if candidate.exists()
        )
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    dumped = []
    with engine.connect() as connection:
        tables = connection.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        ).scalars()
        for table in list(tables):
            rows = connection.execute(text(f'SELECT CAST(t AS text) FROM "{table}" t')).scalars()
            dumped.extend(rows)
    engine.dispose()
    return "\n".join(dumped).encode()


def test_sentinel_in_every_non_allowlisted_field_is_stored_and_shaped_nowhere(
    cli, runtime, clock, database_url, tmp_path
):
    path = tmp_path / "customers.jsonl"
    path.write_text(
        "".join(json.dumps(_source(f"C-{n}"), ensure_ascii=False) + "\n" for n in range(5)),
        encoding="utf-8",
    )
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")

    result = cli("customers", "import", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    assert SENTINEL not in result.stdout + result.stderr
    dropped = json.loads(result.stdout)["dropped_fields"]
    assert set(dropped) == {
        *NON_ALLOWLISTED, "contract.internal_code", "fees.discount_reason",
        "inquiries[].staff_memo",
    }  # fmt: skip
    # A second import (an update) goes through the same door.
    path.write_text(path.read_text(encoding="utf-8").replace('"help"', '"more help"'), "utf-8")
    assert cli("customers", "import", str(path)).exit_code == 0

    with runtime.transaction() as session:
        for n in range(5):
            factories.designation(session, clock, f"C-{n}", "acme")

    stored = _database_text(database_url, runtime)
    assert VISIBLE.encode() in stored
    assert SENTINEL.encode() not in stored
    assert b"SENTINEL7f3a9c" not in stored

    current = allowlist.current()
    everything = current.field_names
    with runtime.transaction() as session:
        records = customers_for_partner(session, "acme", clock.now().date(), limit=10,
                                        now=clock.now()).records
        assert len(records) == 5
        shaped = [current.shape(r.record, everything) for r in records]
        one = customer_for_partner(session, "acme", "C-1", clock.now().date())
        shaped.append(current.shape(one.customer.record, everything))
    output = json.dumps(shaped, ensure_ascii=False)
    assert VISIBLE in output
    assert "SENTINEL7f3a9c" not in output
