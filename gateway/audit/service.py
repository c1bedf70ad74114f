"""Reading the access log: verification, and recording that the log was read.

The privacy desk's reads are themselves events (DESIGN: every access is logged): a report or
an export is logged *before* it is produced, like any disclosure; a verification is logged
*after* it ran, with its verdict, because a verification must still run — and say what it
found — on a log too damaged to append to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.audit.checkpoint import Statement
from gateway.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from gateway.audit.reading import STREAM_BATCH, snapshot
from gateway.audit.spine import (
    HEAD_ROW_ID,
    Actor,
    Event,
    RecordedEntry,
    Scalar,
    Subject,
    entry_as_dict,
    record,
)
from gateway.audit.verifier import ENTRY_COLUMNS, Checkpoint, LogReport, LogVerifier
from gateway.runtime import Runtime

_BATCH = 5_000

ENTRY_SELECT_COLUMNS = tuple(AuditEntry.__table__.c[name] for name in ENTRY_COLUMNS)


def stored_entries(session: Session) -> Iterator[dict[str, object]]:
    """Every entry in log order, streamed in batches (bounded memory on any log size)."""
    last = 0
    while True:
        batch = (
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.seq > last)
                .order_by(AuditEntry.seq)
                .limit(_BATCH)
            )
            .scalars()
            .all()
        )
        if not batch:
            return
        for entry in batch:
            yield entry_as_dict(entry)
        last = batch[-1].seq
        session.expunge_all()


def stored_checkpoints(connection: Connection, up_to: int | None = None) -> list[Checkpoint]:
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.size)
    if up_to is not None:
        query = query.where(AuditCheckpoint.size <= up_to)
    return [checkpoint_of(row) for row in connection.execute(query)]


def checkpoint_of(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(
        Statement(row.size, row.head_hash, row.merkle_root, row.at, row.key_id), row.signature
    )


def verify_log(
    engine: Engine,
    trusted: Mapping[str, Ed25519PublicKey],
    *,
    workers: int = 1,
    held: Sequence[Checkpoint] = (),
) -> LogReport:
    """Verify the whole stored log — chain, checkpoints, head row — in one snapshot, so that
    entries appended while it runs are neither missed nor mistaken for forgeries.

    ``workers`` other than 1 (0: one a CPU) spreads a large log over processes
    (``gateway.audit.parallel``); entries are append-only, so each worker's own snapshot
    holds the same entries up to the head the parent read. ``held`` are checkpoints kept
    outside the database (an export's anchor, a saved ``gateway audit checkpoint --json``): they
    catch a tail cut off together with the checkpoints stored after it."""
    if workers != 1:
        from gateway.audit.parallel import CHUNK_BITS, verify_log_parallel

        with snapshot(engine) as connection:
            top = connection.scalar(select(func.max(AuditEntry.seq))) or 0
        if top > 2 << CHUNK_BITS:
            return verify_log_parallel(engine, trusted, workers=workers or None, held=held)
    with snapshot(engine) as connection:
        head = connection.execute(
            select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == HEAD_ROW_ID)
        ).first()
        verifier = LogVerifier([*stored_checkpoints(connection), *held], trusted)
        result = connection.execution_options(yield_per=STREAM_BATCH).execute(
            select(*ENTRY_SELECT_COLUMNS).order_by(AuditEntry.seq)
        )
        try:
            for rows in result.partitions():
                if not verifier.feed(rows):
                    break
        finally:
            result.close()
        return verifier.finish(tuple(head) if head is not None else None)


def verify_stored_chain(
    sessions: sessionmaker[Session], trusted: Mapping[str, Ed25519PublicKey] | None = None
) -> LogReport:
    """:func:`verify_log` for callers holding a session factory."""
    return verify_log(sessions.kw["bind"], trusted or {})


def record_reading(
    runtime: Runtime,
    actor: Actor,
    action: str,
    *,
    subjects: tuple[Subject, ...] = (),
    details: Mapping[str, Scalar] | None = None,
    request_id: str | None = None,
) -> RecordedEntry:
    """Log that the privacy desk read the log, committed on its own."""
    with runtime.transaction() as session:
        return record(
            session,
            Event(
                action=action,
                actor=actor,
                subjects=subjects,
                details=dict(details or {}),
                request_id=request_id,
            ),
            clock=runtime.clock,
        )
