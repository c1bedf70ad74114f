"""The import streams: memory stays bounded by a batch, not by the file.

(A million-line run with peak RSS belongs to a benchmark; this is its fast, bounded twin.)
"""

from __future__ import annotations

import json
import tracemalloc

import pytest
from sqlalchemy import func, select

from gateway import allowlist
from gateway.customers import importer
from gateway.customers.models import Customer
from tests.factories import OPERATOR

LINES = 5_000


@pytest.mark.slow
def test_a_large_file_imports_in_memory_well_below_its_size(runtime, clock, tmp_path, monkeypatch):
    # Memory follows the batch, not the file: a smaller batch keeps this test small and fast.
    monkeypatch.setattr(importer, "BATCH_SIZE", 200)
    path = tmp_path / "big.jsonl"
    inquiry = {"inquiry_id": "Q", "content": "x" * 1500, "answer": "y" * 500}
    with path.open("w", encoding="utf-8") as handle:
        for n in range(LINES):
            source = {
                "customer_id": f"C-{n:06d}",
                "name": f"Customer {n}",
                "contract": {"usage_status": "active"},
                "inquiries": [inquiry],
                "internal_notes": "z" * 200,
            }
            handle.write(json.dumps(source) + "\n")
    size = path.stat().st_size
    assert size > 10_000_000

    tracemalloc.start()
    try:
        with path.open("rb") as source, runtime.transaction() as session:
            summary = importer.import_customers(
                session, clock, OPERATOR, source, allowlist=allowlist.current()
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert summary.created == LINES
    assert peak < size / 8, f"peak {peak} bytes for a {size}-byte file"
    with runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == LINES
