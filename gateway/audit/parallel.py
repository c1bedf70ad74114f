"""Verification of a large log spread over processes.

The log is cut into chunks of ``2**chunk_bits`` entries, aligned on multiples of the chunk
size. Each worker process checks one chunk's entries — each against its own hash and its link
to the one before — and hashes them into a Merkle tree of their own. Because a chunk starts
on a multiple of its (power-of-two) size, the tree of the whole log at any size inside the
chunk is the whole log's right edge before the chunk followed by the chunk's own edge
(RFC 9162 trees decompose along the binary digits of their size), so the parent checks
every checkpoint and carries the tree forward with a few hashes a chunk, while the workers
do the per-entry work. Chunk boundaries — the first entry of a chunk following the last of
the one before, and committing to its hash — are checked by the parent.

The findings are those of the one-process :class:`~gateway.audit.verifier.LogVerifier`, which
the parent uses for everything but the per-entry work.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, func, select

from gateway import db
from gateway.audit import merkle
from gateway.audit.chain import ChainBreak
from gateway.audit.models import AuditEntry, AuditHead
from gateway.audit.reading import STREAM_BATCH, snapshot
from gateway.audit.spine import HEAD_ROW_ID
from gateway.audit.verifier import ENTRY_COLUMNS, Checkpoint, LogReport, LogVerifier

CHUNK_BITS = 17  # 131 072 entries a chunk
_COLUMNS = tuple(AuditEntry.__table__.c[name] for name in ENTRY_COLUMNS)


@dataclass
class ChunkResult:
    count: int = 0
    first_seq: int | None = None
    first_prev: str | None = None
    last_seq: int = 0
    last_hash: str = ""
    recent: dict[int, str] = field(default_factory=dict)
    # (size, the chunk's Merkle edge at that size, the entry hash at that size)
    marks: list[tuple[int, list[bytes], str]] = field(default_factory=list)
    nodes: list[bytes] = field(default_factory=list)
    first_break: ChainBreak | None = None


_engine: Engine | None = None


def _open(url: str) -> None:
    global _engine
    _engine = db.create_gateway_engine(url)


def verify_chunk(low: int, high: int, sizes: list[int]) -> ChunkResult:
    """Check entries ``low + 1 .. high`` (in a worker); ``sizes``: checkpoints in between."""
    assert _engine is not None
    result = ChunkResult()
    with snapshot(_engine) as connection:
        rows = connection.execution_options(yield_per=STREAM_BATCH).execute(
            select(*_COLUMNS)
            .where(AuditEntry.seq > low, AuditEntry.seq <= high)
            .order_by(AuditEntry.seq)
        )
        stream = iter(rows)
        first = next(stream, None)
        if first is None:
            return result
        result.first_seq, result.first_prev = first[0], first[13]
        frontier = merkle.Frontier()
        verifier = LogVerifier.resume(first[0] - 1, first[13], frontier)
        stream = itertools.chain((first,), stream)
        for size in sizes:
            if size <= verifier.position:
                continue
            if not verifier.feed(itertools.islice(stream, size - verifier.position)):
                break
            if verifier.position != size:
                break
            result.marks.append((size, list(frontier.nodes), verifier.head_hex))
        else:
            verifier.feed(stream)
        rows.close()
    report = verifier.report
    result.count = report.entries
    result.last_seq, result.last_hash = verifier.position, verifier.head_hex
    result.recent = dict(verifier.recent)
    result.nodes = list(frontier.nodes)
    result.first_break = report.first_break
    return result


class _InProcess:
    """One worker, in this very process: the chunked path without the processes (tests)."""

    def __init__(self, url: str) -> None:
        _open(url)

    def submit(self, function, *args):  # type: ignore[no-untyped-def]
        future: Future[ChunkResult] = Future()
        future.set_result(function(*args))
        return future

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        global _engine
        if _engine is not None:
            _engine.dispose()
            _engine = None


def _executor(workers: int, url: str):  # type: ignore[no-untyped-def]
    if workers == 1:
        return _InProcess(url)
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_open, initargs=(url,))


def verify_log_parallel(
    engine: Engine,
    trusted: Mapping[str, Ed25519PublicKey],
    *,
    workers: int | None = None,
    chunk_bits: int = CHUNK_BITS,
    held: Sequence[Checkpoint] = (),
) -> LogReport:
    with snapshot(engine) as connection:
        from gateway.audit.service import stored_checkpoints

        head = connection.execute(
            select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == HEAD_ROW_ID)
        ).first()
        checkpoints = [*stored_checkpoints(connection), *held]
        top = connection.scalar(select(func.max(AuditEntry.seq))) or 0
    parent = LogVerifier(checkpoints, trusted)
    sizes = parent.checkpoint_sizes()
    chunk = 1 << chunk_bits
    ranges = [(low, min(low + chunk, top)) for low in range(0, top, chunk)]
    workers = workers or min(os.cpu_count() or 1, 8)
    url = engine.url.render_as_string(hide_password=False)
    with _executor(workers, url) as pool:
        pending: list[Future[ChunkResult]] = []
        queue = iter(ranges)
        try:
            while True:
                while len(pending) < 2 * workers:
                    span = next(queue, None)
                    if span is None:
                        break
                    low, high = span
                    inside = [s for s in sizes if low < s <= high]
                    pending.append(pool.submit(verify_chunk, low, high, inside))
                if not pending:
                    break
                if not parent.absorb(pending.pop(0).result()):
                    break
        finally:
            for future in pending:
                future.cancel()
    return parent.finish(tuple(head) if head is not None else None)
