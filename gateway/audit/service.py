"""Reading the access log: verification of the stored chain."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.audit.chain import ChainReport, verify_chain
from gateway.audit.models import AuditEntry, AuditHead
from gateway.audit.spine import HEAD_ROW_ID, entry_as_dict

_BATCH = 5_000


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


def verify_stored_chain(sessions: sessionmaker[Session]) -> ChainReport:
    """Verify the whole stored chain against the head row, in one snapshot, so that entries
    appended while it runs are neither missed nor mistaken for forgeries."""
    with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        head = session.get(AuditHead, HEAD_ROW_ID)
        expected = (head.seq, head.entry_hash) if head is not None else None
        return verify_chain(stored_entries(session), expected_head=expected)
