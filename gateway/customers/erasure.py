"""Erasure (消去, paragraph 6): every stored personal value of a customer removed, a tombstone
kept.

:func:`erase` deletes the customer's shared content and designations (the relation to its
resellers) and keeps only the tombstone — the id, when, the request — so that a later import
of the id is refused until an operator readmits it (:func:`readmit`). Before the rows go, each
reseller the log shows received the customer gets a removal event (reason ``erased``). The
access log keeps its entries: they hold ids and item names only, and they are the disclosure
history the customer and the regulator may still ask for.

Bytes on disk (:func:`scrub`, after the commit): SQLite deletes with ``secure_delete`` on, so
freed pages are zeroed, and a ``wal_checkpoint(TRUNCATE)`` moves the zeroed pages into the
database file and empties the write-ahead log — once :func:`scrub` returns, the values are in
neither file. PostgreSQL keeps dead rows until ``VACUUM`` (run here on the two tables) and may
keep copies in its write-ahead log and backups until they are recycled: see the README.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from gateway.audit.spine import Actor, Event, Subject, record
from gateway.clock import Clock, isoformat
from gateway.customers.models import Customer, ErasedCustomer
from gateway.designations.models import Designation
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.removals import service as removals
from gateway.removals.models import ERASED
from gateway.runtime import Runtime


def erase(session: Session, clock: Clock, actor: Actor, *, customer_id: str,
          request: str | None = None, request_id: str | None = None) -> ErasedCustomer:  # fmt: skip
    """Erase the customer in the caller's transaction (see the module docstring)."""
    if session.get(ErasedCustomer, customer_id) is not None:
        raise Conflict(f"customer {customer_id!r} is already erased")
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"no customer {customer_id!r}")
    removals.notify(session, clock, customer_id=customer_id, reason=ERASED,
                    request_id=request_id)  # fmt: skip
    session.execute(delete(Designation).where(Designation.customer_id == customer_id))
    session.execute(delete(Customer).where(Customer.customer_id == customer_id))
    tombstone = ErasedCustomer(customer_id=customer_id, erased_at=isoformat(clock.now()),
                               request_id=request)  # fmt: skip
    session.add(tombstone)
    record(
        session,
        Event(action="customers.erase", actor=actor, subjects=(Subject("customer", customer_id),),
              request_id=request_id, details={"request": request}),
    clock=clock)  # fmt: skip
    return tombstone


def readmit(session: Session, clock: Clock, actor: Actor, *, customer_id: str, reason: str,
            request_id: str | None = None) -> None:  # fmt: skip
    """Let an erased id be imported again (the customer came back); logged with the reason."""
    text_reason = reason.strip()
    if not 1 <= len(text_reason) <= 500 or any(ord(c) < 0x20 for c in text_reason):
        raise InvalidInput("reason: 1 to 500 characters of text")
    tombstone = session.get(ErasedCustomer, customer_id)
    if tombstone is None:
        raise NotFound(f"customer {customer_id!r} is not erased")
    session.delete(tombstone)
    record(
        session,
        Event(action="customers.readmit", actor=actor,
              subjects=(Subject("customer", customer_id),), request_id=request_id,
              details={"reason": text_reason}),
        clock=clock,
    )  # fmt: skip


def scrub(runtime: Runtime) -> str:
    """After an erasure's commit: make the deleted bytes leave the database files where the
    database lets us. Returns what was done, for the operator."""
    engine = runtime.engine
    if engine.dialect.name == "sqlite":
        for _ in range(50):  # readers hold old WAL frames for a moment: wait them out
            connection = engine.raw_connection()  # no transaction: a checkpoint needs none
            try:
                cursor = connection.cursor()
                busy, _, _ = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                cursor.close()
            finally:
                connection.close()
            if not busy:
                return "the database file and its write-ahead log no longer hold the values"
            time.sleep(0.1)
        return "erased; a reader kept the write-ahead log busy: run the command again to scrub"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM customers"))
        connection.execute(text("VACUUM designations"))
    return (
        "erased; VACUUM ran — PostgreSQL's write-ahead log and any backups keep old pages "
        "until they are recycled (see the README)"
    )
