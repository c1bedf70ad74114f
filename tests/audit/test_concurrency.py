"""The chain stays one line when several processes append at once, on both databases."""

from __future__ import annotations

import multiprocessing
import time

import pytest
from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.audit.service import stored_entries, verify_stored_chain
from gateway.audit.spine import Actor, ActorKind, Event, Subject, record
from gateway.clock import SystemClock
from gateway.config import Config
from gateway.runtime import Runtime

WRITERS = 4
APPENDS = 40


def _append_many(database_url: str, writer: int, start, windows) -> None:
    runtime = Runtime.open(Config(database_url=database_url, auto_migrate=False), SystemClock())
    start.wait(60)  # every writer is connected before any appends
    began = time.time()
    try:
        for n in range(APPENDS):
            with runtime.transaction() as session:
                record(
                    session,
                    Event(
                        action="customers.read",
                        actor=Actor(ActorKind.SYSTEM, f"writer-{writer}"),
                        subjects=(Subject("customer", f"C-{writer}-{n}"),),
                        request_id=f"w{writer}-n{n:03d}",
                    ),
                    clock=SystemClock(),
                )
    finally:
        runtime.close()
    windows.put((began, time.time()))


@pytest.mark.slow
def test_concurrent_writers_build_one_unbroken_chain(database_url, runtime):
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    windows = context.Queue()
    writers = [
        context.Process(target=_append_many, args=(database_url, w, start, windows))
        for w in range(WRITERS)
    ]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)
    assert [p.exitcode for p in writers] == [0] * WRITERS

    with runtime.transaction() as session:
        entries = list(stored_entries(session))
        count = session.scalar(select(func.count()).select_from(AuditEntry))
    report = verify_stored_chain(runtime.sessions)

    total = WRITERS * APPENDS
    assert count == total
    assert [e["seq"] for e in entries] == list(range(1, total + 1))
    assert len({e["entry_hash"] for e in entries}) == total
    assert sorted(e["request_id"] for e in entries) == sorted(
        f"w{w}-n{n:03d}" for w in range(WRITERS) for n in range(APPENDS)
    )
    # The writers really ran at once: every one began before any finished.
    spans = [windows.get(timeout=5) for _ in writers]
    assert max(began for began, _ in spans) < min(ended for _, ended in spans)
    assert report.intact and report.entries == total
